// Config reader: good lines, every kind of bad line, overrides and the hash.
#include <gtest/gtest.h>

#include "config/config.h"
#include "util/check.h"

using knlp::Config;
using knlp::Error;

namespace {

// The one-line message a bad .config text raises, or "" if none.
std::string error_of(const std::string& text) {
  try {
    Config::parse(text, "bad.config");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
    return e.line();
  }
  return "";
}

}  // namespace

TEST(Config, ReadsTypedValues) {
  auto cfg = Config::parse(
      "# a comment\n\nCONFIG_NUM_EPOCHS=7\nCONFIG_LEARNING_RATE=\"3e-4\"\n"
      "CONFIG_DEVICE=\"cpu\"\n# CONFIG_MODEL_SELECT_LENET5 is not set\nCONFIG_SEED=0x10\n",
      "t.config");
  EXPECT_EQ(cfg.get_int("NUM_EPOCHS"), 7);
  EXPECT_DOUBLE_EQ(cfg.get_float("LEARNING_RATE"), 3e-4);
  EXPECT_EQ(cfg.get_string("DEVICE"), "cpu");
  EXPECT_FALSE(cfg.get_bool("MODEL_SELECT_LENET5"));
  EXPECT_TRUE(cfg.has("MODEL_SELECT_LENET5"));
  EXPECT_EQ(cfg.get_int("SEED"), 16);
  EXPECT_EQ(cfg.get_int("BATCH_SIZE", 99), 99);
}

TEST(Config, BadLinesNameFileLineSymbolAndWhatIsAccepted) {
  EXPECT_EQ(error_of("CONFIG_NUM_EPOCHS=5\nCONFIG_NUM_EPOCHS=0\n"),
            "bad.config:2: CONFIG_NUM_EPOCHS: 0 is out of range; accepted: 1..1000");
  EXPECT_EQ(error_of("CONFIG_NO_SUCH_THING=y\n"),
            "bad.config:1: CONFIG_NO_SUCH_THING: not declared in Kconfig; check the spelling, "
            "or run 'make olddefconfig'");
  EXPECT_EQ(error_of("CONFIG_MODEL_SELECT_LENET5=maybe\n"),
            "bad.config:1: CONFIG_MODEL_SELECT_LENET5: 'maybe' is not a bool (y or n)");
  EXPECT_EQ(error_of("CONFIG_BATCH_SIZE=12abc\n"),
            "bad.config:1: CONFIG_BATCH_SIZE: '12abc' is not an integer");
  EXPECT_EQ(error_of("CONFIG_DEVICE=cpu\n"),
            "bad.config:1: CONFIG_DEVICE: cpu is not a quoted string");
  EXPECT_NE(error_of("NUM_EPOCHS=3\n").find("bad.config:1: NUM_EPOCHS=3: malformed line"),
            std::string::npos);
}

TEST(Config, FloatsMustParse) {
  auto cfg = Config::parse("CONFIG_NUM_EPOCHS=1\nCONFIG_LEARNING_RATE=\"fast\"\n", "f.config");
  try {
    cfg.get_float("LEARNING_RATE");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.line(),
              "f.config:2: CONFIG_LEARNING_RATE: 'fast' is not a number; accepted: a decimal "
              "such as 0.001 or 1e-3");
  }
}

TEST(Config, SetOverridesAreCheckedAndEchoed) {
  auto cfg = Config::parse("CONFIG_NUM_EPOCHS=10\n", "o.config");
  EXPECT_EQ(cfg.set("NUM_EPOCHS=2"), "CONFIG_NUM_EPOCHS=2");
  EXPECT_EQ(cfg.set("CONFIG_DEVICE=cpu"), "CONFIG_DEVICE=\"cpu\"");
  EXPECT_EQ(cfg.get_int("NUM_EPOCHS"), 2);
  EXPECT_THROW(cfg.set("NUM_EPOCH=2"), Error);
  EXPECT_THROW(cfg.set("NUM_EPOCHS=two"), Error);
  EXPECT_THROW(cfg.set("NUM_EPOCHS"), Error);
}

TEST(Config, TextRoundTripsAndHashFollowsContent) {
  const std::string text =
      "CONFIG_NUM_EPOCHS=3\n# CONFIG_MODEL_SELECT_LENET5 is not set\nCONFIG_DEVICE=\"a \\\"b\\\"\"\n";
  auto a = Config::parse(text, "a");
  EXPECT_EQ(a.text(), text);
  EXPECT_EQ(a.get_string("DEVICE"), "a \"b\"");
  auto b = Config::parse(a.text(), "b");
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.hash().size(), 16u);
  b.set("NUM_EPOCHS=4");
  EXPECT_NE(a.hash(), b.hash());
}

TEST(Config, ResolveRejectsUnknownChoicesWithTheAcceptedOnes) {
  auto cfg = Config::parse(
      "CONFIG_MODEL=\"lenet6\"\nCONFIG_LENET5_DATASET=\"mnist\"\nCONFIG_DATA_DIR=\"d\"\n",
      "r.config");
  try {
    knlp::resolve(cfg);
    FAIL() << "no error";
  } catch (const Error& e) {
    // the list grows with every model; it starts with lenet5
    EXPECT_EQ(e.line().rfind("r.config: CONFIG_MODEL: unknown value 'lenet6'; accepted: lenet5", 0),
              0u)
        << e.line();
  }
}
