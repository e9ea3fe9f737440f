// What gilstat and gilstatd share on top of CLI11: value checks worded by the program, and
// CLI11's parse errors taken apart so that each program reports them in its own words.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace gilstat::cli {

// A check whose failure reads message(value) instead of CLI11's wording. `inner` does the
// checking (and may rewrite the value, as Decimal() does).
CLI::Validator Worded(const CLI::Validator& inner,
                      std::function<std::string(const std::string&)> message);

// A check by predicate: a value `ok` refuses is an error reading message(value).
CLI::Validator Checked(std::function<bool(const std::string&)> ok,
                       std::function<std::string(const std::string&)> message);

// Decimal digits only; give it with ->transform() (->check() would not keep the rewrite). CLI11
// converts integers with base 0 ("010" is 8, "0x10" is 16) and lets "-1" wrap around as an
// unsigned; this check keeps numbers decimal by rejecting signs, spaces and prefixes and dropping
// leading zeros.
CLI::Validator Decimal();

// A CLI11 parse error, taken apart.
struct ParseFailure {
  enum class Kind {
    kMissingValue,   // an option that takes a value came last
    kUnwantedValue,  // a flag was given a value (--json=yes)
    kBadValue,       // a check rejected the value; `message` is the check's own message
    kOther,          // anything else; `message` is CLI11's
  };
  Kind kind = Kind::kOther;
  std::string option;  // the option's name as CLI11 reports it ("--pid"); empty for kOther
  std::string message;
};

// Finds the option an error is about among the options of `app` and its subcommands.
ParseFailure Explain(const CLI::App& app, const CLI::ParseError& error);

// Help that shows an option's value the way it is given as one argument: "--log.level=LEVEL".
class EqualsFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override;
};

// "--flag=value" -> "--flag"; anything else unchanged.
std::string OptionName(const std::string& arg);

}  // namespace gilstat::cli
