// A run's status file as a type: one parse, one format, the strings on disk
// unchanged, and a file that holds no status is one clear error.
#include <gtest/gtest.h>

#include <iterator>

#include "fixtures.h"
#include "train/train.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

using knlp::RunStatus;
using State = knlp::RunStatus::State;
namespace fs = std::filesystem;

// The one-line message parsing `text` raises, or "" if none.
std::string parse_error(const std::string& text) {
  try {
    RunStatus::parse(text, "results/r/status");
  } catch (const knlp::Error& e) {
    return e.line();
  }
  return "";
}

}  // namespace

TEST(RunStatus, ParseOfFormatGivesBackEveryState) {
  const RunStatus all[] = {
      {},
      {State::kRunning, ""},
      {State::kDone, ""},
      RunStatus::failed("pruning: unknown method 'x', accepted: none"),
      {State::kFailed, ""},
      RunStatus::interrupted(7),
      {State::kInterrupted, ""},
  };
  for (const auto& s : all) {
    const RunStatus back = RunStatus::parse(s.format());
    EXPECT_EQ(back.state, s.state) << s.format();
    EXPECT_EQ(back.reason, s.reason) << s.format();
  }
  // Every state formats differently, so parse cannot map two of them to one.
  for (size_t i = 0; i < std::size(all); ++i)
    for (size_t j = i + 1; j < std::size(all); ++j) EXPECT_NE(all[i].format(), all[j].format());
}

TEST(RunStatus, StringsOnDiskAreTheOldOnes) {
  EXPECT_EQ(RunStatus({State::kRunning, ""}).format(), "running");
  EXPECT_EQ(RunStatus({State::kDone, ""}).format(), "done");
  EXPECT_EQ(RunStatus::failed("exit 1: out of memory\nsecond line").format(),
            "failed: exit 1: out of memory");
  EXPECT_EQ(RunStatus::interrupted(4).format(), "failed: interrupted at step 4");
  EXPECT_EQ(RunStatus::interrupted(4).describe(), "interrupted at step 4");
  EXPECT_EQ(RunStatus().format(), "");

  // Status files as every knlp so far wrote them.
  const auto dir = knlp::test::temp_dir("status");
  EXPECT_EQ(knlp::read_status(dir / "never").state, State::kNone);
  const std::pair<const char*, RunStatus> old[] = {
      {"running\n", {State::kRunning, ""}},
      {"done\n", {State::kDone, ""}},
      {"failed: interrupted at step 12\n", {State::kInterrupted, "at step 12"}},
      {"failed: killed by signal 9 (Killed)\n", {State::kFailed, "killed by signal 9 (Killed)"}},
      {"failed: interruptedly\n", {State::kFailed, "interruptedly"}},
  };
  for (const auto& [text, want] : old) {
    knlp::write_file_atomic(dir / "status", text);
    const RunStatus got = knlp::read_status(dir);
    EXPECT_EQ(got.state, want.state) << text;
    EXPECT_EQ(got.reason, want.reason) << text;
    EXPECT_EQ(got, text);  // as the trainer tests compare it
    EXPECT_NE(got, "failed: something else") << text;
    knlp::write_status(dir, got);
    EXPECT_EQ(knlp::read_file(dir / "status"), text);  // written back byte for byte
  }
  fs::remove_all(dir);
}

TEST(RunStatus, TextThatIsNoStatusIsOneClearError) {
  EXPECT_EQ(parse_error("done"), "");
  const std::string line = parse_error("finished\n");
  EXPECT_EQ(line,
            "results/r/status: status: 'finished' is not a run status; expected running, done, "
            "failed: <reason> or failed: interrupted at step N");
  EXPECT_NE(parse_error("Done"), "");
  EXPECT_NE(parse_error("running late"), "");
  // read_status names the file.
  const auto dir = knlp::test::temp_dir("status-bad");
  knlp::write_file_atomic(dir / "status", "{\"status\": \"done\"}\n");
  try {
    knlp::read_status(dir);
    ADD_FAILURE() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.where(), (dir / "status").string());
    EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
  }
  fs::remove_all(dir);
}
