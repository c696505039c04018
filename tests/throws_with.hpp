// Test helpers shared by the tests: an exception of the given type whose message holds every key word.
#pragma once

#include <boost/test/unit_test.hpp>

#include <exception>
#include <initializer_list>
#include <string>
#include <typeinfo>
#include <vector>

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

/// Predicate for BOOST_CHECK_EXCEPTION(expr, std::exception, says<E>({...})): the exception is exactly E (not a
/// subclass: std::invalid_argument is a std::logic_error, so the catch type alone cannot tell them apart) and its
/// message contains every word.
template <class E>
auto says(std::vector<std::string> words) {
  return [words = std::move(words)](const std::exception& e) {
    const std::string msg = e.what();
    if (typeid(e) != typeid(E)) {
      BOOST_TEST_MESSAGE("wrong exception type " << typeid(e).name() << ": " << msg);
      return false;
    }
    for (const std::string& w : words)
      if (msg.find(w) == std::string::npos) {
        BOOST_TEST_MESSAGE("message lacks '" << w << "': " << msg);
        return false;
      }
    return true;
  };
}
