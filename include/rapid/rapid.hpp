#pragma once
// Umbrella header: every host header of rapid (never cuda/).
#include "rapid/core/version.hpp"
#include "rapid/core/error.hpp"
#include "rapid/core/dtype.hpp"
#include "rapid/io/mmap_file.hpp"
#include "rapid/io/gguf.hpp"
#include "rapid/io/safetensors.hpp"
