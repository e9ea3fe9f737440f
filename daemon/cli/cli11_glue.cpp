#include "cli/cli11_glue.h"

#include <algorithm>
#include <cctype>

namespace gilstat::cli {
namespace {

// The option named by `token` (CLI11 names it "--pid", "-p" or, in some messages, "json").
const CLI::Option* FindOption(const CLI::App& app, const std::string& token) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->check_name(token) || opt->check_name("--" + token)) return opt;
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (const CLI::Option* opt = FindOption(*sub, token)) return opt;
  }
  return nullptr;
}

}  // namespace

CLI::Validator Worded(const CLI::Validator& inner,
                      std::function<std::string(const std::string&)> message) {
  return CLI::Validator(
      [inner, message = std::move(message)](std::string& value) {
        const std::string given = value;
        return inner(value).empty() ? std::string() : message(given);
      },
      "");
}

CLI::Validator Checked(std::function<bool(const std::string&)> ok,
                       std::function<std::string(const std::string&)> message) {
  return CLI::Validator(
      [ok = std::move(ok), message = std::move(message)](std::string& value) {
        return ok(value) ? std::string() : message(value);
      },
      "");
}

CLI::Validator Decimal() {
  return CLI::Validator(
      [](std::string& value) {
        if (value.empty() || !std::all_of(value.begin(), value.end(),
                                          [](unsigned char c) { return std::isdigit(c) != 0; })) {
          return std::string("not a decimal number");
        }
        value.erase(0, std::min(value.find_first_not_of('0'), value.size() - 1));
        return std::string();
      },
      "");
}

ParseFailure Explain(const CLI::App& app, const CLI::ParseError& error) {
  const std::string what = error.what();
  // CLI11 starts the messages about one option with the option's name.
  const std::string token = what.substr(0, what.find_first_of(": "));
  const CLI::Option* opt = FindOption(app, token);
  if (opt == nullptr) return {ParseFailure::Kind::kOther, "", what};
  const std::string name = opt->get_name();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    auto kind = opt->get_items_expected_max() == 0 ? ParseFailure::Kind::kUnwantedValue
                                                   : ParseFailure::Kind::kMissingValue;
    return {kind, name, what};
  }
  if (dynamic_cast<const CLI::ValidationError*>(&error) != nullptr &&
      what.starts_with(token + ": ")) {
    return {ParseFailure::Kind::kBadValue, name, what.substr(token.size() + 2)};
  }
  return {ParseFailure::Kind::kOther, name, what};
}

std::string EqualsFormatter::make_option_opts(const CLI::Option* opt) const {
  if (opt->get_items_expected_max() == 0) return {};  // a flag
  return "=" + opt->get_type_name();
}

std::string OptionName(const std::string& arg) {
  if (!arg.starts_with("--")) return arg;
  return arg.substr(0, arg.find('='));
}

}  // namespace gilstat::cli
