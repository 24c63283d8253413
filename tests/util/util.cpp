#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ltcl/util/guard.h"
#include "ltcl/util/progress.h"
#include "ltcl/util/error.h"
#include "ltcl/util/run_lock.h"
#include "ltcl/util/signals.h"
#include "support.h"

namespace {

using namespace ltcl::util;

TEST(Progress, RendersBarRateAndEta) {
  Progress p("epoch 1/2", 100, true);
  // 25 of 100 in 5 s: 5 it/s, 75 left -> 15 s.
  EXPECT_EQ(
      p.render(25, 5.0, "loss 1.5", 8),
      "epoch 1/2 [##......] 25/100  5.0 it/s  ETA 0:15  loss 1.5");
  EXPECT_EQ(p.render(0, 0.0, "", 4), "epoch 1/2 [....] 0/100  0.0 it/s  ETA ?");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(65), "1:05");
}

TEST(Progress, RunEtaFromThisProcesssEpochs) {
  // 3 epochs in 90 s, 7 left: 210 s.
  EXPECT_DOUBLE_EQ(run_eta_seconds(90.0, 3, 7), 210.0);
  EXPECT_DOUBLE_EQ(run_eta_seconds(90.0, 3, 0), 0.0);
  EXPECT_TRUE(std::isnan(run_eta_seconds(0.0, 0, 7)));
  EXPECT_TRUE(std::isnan(run_eta_seconds(10.0, 1, -1)));
  EXPECT_EQ(format_duration(run_eta_seconds(3600.0, 2, 3)), "1:30:00");
}

TEST(Progress, PlainModeLogsEveryK) {
  std::vector<std::string> lines;
  Progress p("ep", 10, false, 4, [&](const std::string& s) {
    lines.push_back(s);
  });
  for (int i = 1; i <= 10; ++i) {
    p.update(i, "x");
  }
  p.finish();
  // Steps 1 (first), 5, 9, 10 (last), then the final line.
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].rfind("ep 1/10", 0), 0u) << lines[0];
  EXPECT_EQ(lines[3].rfind("ep 10/10", 0), 0u) << lines[3];
  EXPECT_EQ(lines[3].find('['), std::string::npos);  // no bar in logs
  EXPECT_NE(lines[4].find("done in"), std::string::npos);
}

TEST(Signals, SigtermSetsTheFlagOnly) {
  install_stop_handlers();
  EXPECT_FALSE(stop_requested());
  std::raise(SIGTERM);  // the process survives: the handler only records
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGTERM);
  clear_stop_request();
  std::raise(SIGINT);
  EXPECT_EQ(stop_signal(), SIGINT);
  clear_stop_request();
  std::raise(SIGHUP);  // a closed terminal: a clean stop too, not death
  EXPECT_EQ(stop_signal(), SIGHUP);
  // Installs nest: an inner one keeps a pending request (a signal while a
  // program opened its data must reach the Trainer's install) and its
  // removal keeps the handlers and the request; the outer removal restores
  // the defaults and clears; the next first install starts clean.
  install_stop_handlers();
  EXPECT_EQ(stop_signal(), SIGHUP);
  remove_stop_handlers();
  EXPECT_EQ(stop_signal(), SIGHUP);
  std::raise(SIGTERM);  // still handled: the outer install holds
  EXPECT_EQ(stop_signal(), SIGTERM);
  remove_stop_handlers();
  EXPECT_FALSE(stop_requested());
  request_stop(SIGTERM);
  install_stop_handlers();
  EXPECT_FALSE(stop_requested());
  request_stop(SIGTERM);
  EXPECT_TRUE(stop_requested());
  remove_stop_handlers();
  EXPECT_FALSE(stop_requested());
}

TEST(FolderLock, OneHolderAtATimeAndStaleTempFilesGo) {
  ltcl::test::TempDir dir;
  const std::string run = (dir / "run").string();
  {
    FolderLock first(run);
    try {
      FolderLock second(run);
      ADD_FAILURE() << "a second lock on the same folder was granted";
    } catch (const ltcl::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("is in use by another ltcl run (pid " +
                         std::to_string(::getpid()) + ")"),
                std::string::npos)
          << msg;
    }
  }
  FolderLock again(run);  // released with the first holder
  // What a kill mid-write leaves, next to files that must stay.
  for (const char* f : {".last.pt.tmp.Ab3xYz", ".metrics.json.tmp.000000",
                        "last.pt", ".ltcl.lock", ".tmp.keep", "x.tmp.123456"}) {
    std::ofstream(std::filesystem::path(run) / f) << "x";
  }
  EXPECT_EQ(remove_stale_temp_files(run), 2);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(run) / ".last.pt.tmp.Ab3xYz"));
  for (const char* f : {"last.pt", ".ltcl.lock", ".tmp.keep", "x.tmp.123456"}) {
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(run) / f)) << f;
  }
}

TEST(Guard, NamesComponentAndStep) {
  EXPECT_NO_THROW(check_finite({{"ce", 1.0}, {"total", 2.0}}, 3, 0));
  try {
    check_finite(
        {{"ce", 1.0}, {"contrastive", NAN}, {"total", NAN}}, 1234, 5);
    FAIL() << "expected NonFiniteLoss";
  } catch (const NonFiniteLoss& e) {
    EXPECT_EQ(e.component(), "contrastive");
    EXPECT_EQ(e.step(), 1234);
    std::string msg = e.what();
    EXPECT_NE(
        msg.find("loss component 'contrastive' is nan at step 1234 (epoch 5)"),
        std::string::npos)
        << msg;
  }
  try {
    check_finite({{"ce", 1.0}, {"total", INFINITY}}, 7, 0);
    FAIL();
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'total' is +inf at step 7"),
              std::string::npos);
  }
}

TEST(Threads, SetsCounts) {
  EXPECT_EQ(setup_threads(2, 1), 2);
  EXPECT_EQ(torch::get_num_threads(), 2);
  EXPECT_EQ(setup_threads(1, 1), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_GE(setup_threads(0, 1), 1);
  EXPECT_THROW(setup_threads(-1, 1), ltcl::Error);
}

}  // namespace
