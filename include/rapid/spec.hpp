#pragma once
// Everything of rapid's speculative decoding layer: concepts, decoder, acceptance rules,
// drafters, targets and the paper's methods as type aliases.
#include "rapid/spec/abilities.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/methods.hpp"
#include "rapid/spec/registry.hpp"
#include "rapid/spec/snapshot_store.hpp"
#include "rapid/spec/stats.hpp"
