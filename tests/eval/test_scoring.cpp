// Answer scoring: SQuAD normalisation, exact match, contains-answer and token F1, with values
// worked out by hand.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/eval/scoring.hpp"

using namespace rapid::eval;
using answers = std::vector<std::string>;

TEST_CASE("scoring: normalisation lowercases, deletes punctuation and articles, collapses whitespace") {
  CHECK(normalize_answer("The Cat, sat!") == "cat sat");
  CHECK(normalize_answer("  An  apple\ta\nday ") == "apple day");
  CHECK(normalize_answer("don't x-ray") == "dont xray"); // deleted, not replaced by a space
  CHECK(normalize_answer("Theater anthem") == "theater anthem"); // articles only as whole words
  CHECK(normalize_answer("(a)") == "");
  CHECK(normalize_answer("") == "");
  CHECK(normalize_answer("Caf\xC3\xA9 ZED") == "caf\xC3\xA9 zed"); // bytes beyond ASCII kept
  CHECK(normalize_answer("4,821.") == "4821");
}

TEST_CASE("scoring: exact match is the best over the accepted answers") {
  CHECK(exact_match("42.", answers{"42"}));
  CHECK_FALSE(exact_match("The answer is 42", answers{"42"}));
  CHECK(exact_match("City of Paris!", answers{"London", "the city of Paris"}));
  CHECK(exact_match("the", answers{"a"})); // both normalise to nothing
  CHECK_FALSE(exact_match("", answers{"x"}));
}

TEST_CASE("scoring: contains-answer matches whole words of the prediction") {
  CHECK(contains_answer("The pass key is 60491. Remember it.", answers{"60491"}));
  CHECK_FALSE(contains_answer("604912", answers{"60491"}));
  CHECK_FALSE(contains_answer("160491", answers{"60491"}));
  CHECK(contains_answer("I think it is New York City", answers{"Chicago", "new york"}));
  CHECK_FALSE(contains_answer("York New", answers{"New York"}));
  CHECK(contains_answer("The answer: 42", answers{"42"}));
  CHECK_FALSE(contains_answer("something", answers{"the"})); // an empty answer matches only an empty prediction
  CHECK(contains_answer("an", answers{"the"}));
}

TEST_CASE("scoring: token F1 by hand") {
  // "cat sat on mat" vs "cat on mat": 3 common, P = 3/4, R = 3/3, F1 = 2 * 0.75 / 1.75 = 6/7
  CHECK(token_f1("the cat sat on the mat", answers{"a cat on a mat"}) == doctest::Approx(6.0 / 7.0));
  // multiset overlap: "red red blue" vs "red blue blue green": red 1 + blue 1 = 2 common,
  // P = 2/3, R = 2/4, F1 = 2 * (1/3) / (7/6) = 4/7
  CHECK(token_f1("red red blue", answers{"red blue blue green"}) == doctest::Approx(4.0 / 7.0));
  // variable tracking: "abcde fghij and klmno" vs "abcde fghij klmno lmnop": 3 common, P = R = 3/4
  CHECK(token_f1("ABCDE, FGHIJ and KLMNO", answers{"ABCDE FGHIJ KLMNO LMNOP"}) == doctest::Approx(0.75));
  CHECK(token_f1("blue sky", answers{"green grass"}) == 0.0);
  CHECK(token_f1("Paris", answers{"London", "paris."}) == 1.0); // best answer wins
  CHECK(token_f1("red red blue", answers{"blue", "red red blue"}) == 1.0);
  CHECK(token_f1("the", answers{"a"}) == 1.0); // both empty
  CHECK(token_f1("", answers{"x"}) == 0.0);
  CHECK(token_f1("x", answers{"an"}) == 0.0);
}

TEST_CASE("scoring: score() gives all three, and no answers is an error") {
  const auto s = score("The magic number is 2125934.", answers{"2125934"});
  CHECK(s.exact == 0.0);
  CHECK(s.contains == 1.0);
  // "magic number is 2125934" vs "2125934": P = 1/4, R = 1, F1 = 2 * 0.25 / 1.25 = 0.4
  CHECK(s.f1 == doctest::Approx(0.4));
  CHECK_THROWS_AS((void)exact_match("x", answers{}), rapid::invalid_argument);
  CHECK_THROWS_AS((void)contains_answer("x", answers{}), rapid::invalid_argument);
  CHECK_THROWS_AS((void)token_f1("x", answers{}), rapid::invalid_argument);
  CHECK_THROWS_AS((void)score("x", answers{}), rapid::invalid_argument);
}
