// Test helper shared by the nn tests: an exception of the given type whose message holds every key word.
#pragma once

#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <string>

/// True when calling f throws E whose message contains every key word.
template <class E, class F>
bool throws_with(F&& f, std::initializer_list<std::string> words) {
  try {
    f();
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& w : words)
      if (what.find(w) == std::string::npos) {
        BOOST_TEST_MESSAGE("message '" << what << "' lacks '" << w << "'");
        return false;
      }
    return true;
  }
  return false;
}
