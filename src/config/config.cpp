#include "config/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "util/check.h"
#include "util/fs.h"
#include "util/registry.h"  // find_row

namespace knlp {

namespace {

const SymbolInfo kSymbols[] = {
#include "generated/ksymbols.inc"
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<int64_t> parse_int(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Undoes Kconfig string quoting: "a \"b\" \\ c" -> a "b" \ c. nullopt if malformed.
std::optional<std::string> unquote(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 2 >= s.size()) return std::nullopt;
      c = s[++i];
    } else if (c == '"') {
      return std::nullopt;
    }
    out += c;
  }
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const char* type_name(SymbolType t) {
  switch (t) {
    case SymbolType::kBool: return "bool (y or n)";
    case SymbolType::kInt: return "int";
    case SymbolType::kString: return "string (quoted)";
  }
  return "?";
}

}  // namespace

const SymbolInfo* find_symbol(std::string_view name) { return find_row(kSymbols, name); }

std::vector<SymbolInfo> all_symbols() { return {std::begin(kSymbols), std::end(kSymbols)}; }

void Config::assign(const std::string& name, const std::string& raw, const std::string& where) {
  const std::string sym = "CONFIG_" + name;
  const SymbolInfo* info = find_symbol(name);
  if (!info)
    raise_at(where, sym, "not declared in Kconfig; check the spelling, or run 'make olddefconfig'");
  std::string value;
  switch (info->type) {
    case SymbolType::kBool:
      if (raw != "y" && raw != "n")
        raise_at(where, sym, fmt::format("'{}' is not a {}", raw, type_name(info->type)));
      value = raw;
      break;
    case SymbolType::kInt: {
      auto v = parse_int(raw);
      if (!v) raise_at(where, sym, fmt::format("'{}' is not an integer", raw));
      if (info->min <= info->max && (*v < info->min || *v > info->max))
        raise_at(where, sym,
                 fmt::format("{} is out of range; accepted: {}..{}", *v, info->min, info->max));
      value = std::to_string(*v);
      break;
    }
    case SymbolType::kString: {
      auto v = unquote(raw);
      if (!v) raise_at(where, sym, fmt::format("{} is not a quoted string", raw));
      value = *v;
      break;
    }
  }
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    order_.push_back(name);
    entries_.emplace(name, Entry{value, 0});
  } else {
    it->second.value = value;
  }
}

Config Config::parse(const std::string& text, const std::string& origin) {
  Config cfg;
  cfg.origin_ = origin;
  std::istringstream in(text);
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    std::string_view s = trim(line);
    const std::string where = fmt::format("{}:{}", origin, lineno);
    if (s.empty()) continue;
    if (s.front() == '#') {
      // "# CONFIG_X is not set" is how Kconfig writes a bool that is n.
      constexpr std::string_view kNotSet = " is not set";
      if (s.rfind("# CONFIG_", 0) == 0 && s.size() > kNotSet.size() &&
          s.substr(s.size() - kNotSet.size()) == kNotSet) {
        std::string name(s.substr(9, s.size() - 9 - kNotSet.size()));
        const SymbolInfo* info = find_symbol(name);
        if (info && info->type == SymbolType::kBool) cfg.assign(name, "n", where);
      }
      continue;
    }
    auto eq = s.find('=');
    if (s.rfind("CONFIG_", 0) != 0 || eq == std::string_view::npos || eq == 7)
      raise_at(where, std::string(s.substr(0, std::min<size_t>(s.size(), 40))),
               "malformed line; accepted: CONFIG_NAME=value, '# CONFIG_NAME is not set' or a "
               "# comment");
    std::string name(trim(s.substr(7, eq - 7)));
    cfg.assign(name, std::string(trim(s.substr(eq + 1))), where);
    cfg.entries_.find(name)->second.line = lineno;
  }
  return cfg;
}

Config Config::load(const std::filesystem::path& path) {
  KNLP_CHECK_INPUT(std::filesystem::exists(path), path.string(),
                   "no such file; create one with 'make defconfig-<name>' or 'make menuconfig'");
  return parse(read_file(path), path.string());
}

std::string Config::set(const std::string& assignment) {
  auto eq = assignment.find('=');
  KNLP_CHECK_INPUT(eq != std::string::npos && eq > 0, "--set",
                   "'{}' is not SYMBOL=value", assignment);
  std::string name = assignment.substr(0, eq);
  if (name.rfind("CONFIG_", 0) == 0) name = name.substr(7);
  std::string raw = assignment.substr(eq + 1);
  const SymbolInfo* info = find_symbol(name);
  // Strings may be given bare on the command line: --set DEVICE=cpu.
  if (info && info->type == SymbolType::kString && !unquote(raw)) raw = quote(raw);
  assign(name, raw, "--set");
  const auto& v = entries_.at(name).value;
  return "CONFIG_" + name + "=" + (info->type == SymbolType::kString ? quote(v) : v);
}

const Config::Entry* Config::find(std::string_view sym) const {
  auto it = entries_.find(sym);
  return it == entries_.end() ? nullptr : &it->second;
}

bool Config::has(std::string_view sym) const { return find(sym) != nullptr; }

bool Config::get_bool(std::string_view sym) const {
  const Entry* e = find(sym);
  return e && e->value == "y";
}

int64_t Config::get_int(std::string_view sym) const {
  const Entry* e = find(sym);
  if (!e)
    raise_at(origin_, "CONFIG_" + std::string(sym),
             "missing; run 'make olddefconfig' to fill in defaults");
  return *parse_int(e->value);
}

int64_t Config::get_int(std::string_view sym, int64_t fallback) const {
  return has(sym) ? get_int(sym) : fallback;
}

double Config::get_float(std::string_view sym) const {
  std::string s = get_string(sym);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    const Entry* e = find(sym);
    raise_at(fmt::format("{}:{}", origin_, e ? e->line : 0), "CONFIG_" + std::string(sym),
             fmt::format("'{}' is not a number; accepted: a decimal such as 0.001 or 1e-3", s));
  }
  return v;
}

double Config::get_float(std::string_view sym, double fallback) const {
  return has(sym) ? get_float(sym) : fallback;
}

std::string Config::get_string(std::string_view sym) const {
  const Entry* e = find(sym);
  if (!e)
    raise_at(origin_, "CONFIG_" + std::string(sym),
             "missing; run 'make olddefconfig' to fill in defaults");
  return e->value;
}

std::string Config::get_string(std::string_view sym, const std::string& fallback) const {
  return has(sym) ? get_string(sym) : fallback;
}

std::string Config::text() const {
  std::string out;
  for (const auto& name : order_) {
    const SymbolInfo* info = find_symbol(name);
    const std::string& v = entries_.at(name).value;
    if (info->type == SymbolType::kBool && v == "n")
      out += "# CONFIG_" + name + " is not set\n";
    else
      out += "CONFIG_" + name + "=" + (info->type == SymbolType::kString ? quote(v) : v) + "\n";
  }
  return out;
}

std::string Config::hash() const {
  // FNV-1a, 64 bit: stable across machines and compilers, unlike std::hash.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text()) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace knlp
