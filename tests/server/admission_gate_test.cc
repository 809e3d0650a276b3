// AdmissionGate: N running, M waiting, the rest refused; closing refuses new
// requests and, when asked, releases the waiting ones.
#include "server/admission_gate.h"

#include <gtest/gtest.h>

#include <thread>

namespace matspec::server {
namespace {

using Outcome = AdmissionGate::Outcome;

TEST(AdmissionGateTest, RunningThenWaitingThenFull) {
  AdmissionGate gate(/*max_running=*/1, /*max_waiting=*/1);
  AdmissionGate::Slot first;
  ASSERT_EQ(gate.Enter(&first), Outcome::kAdmitted);
  AdmissionGate::Slot second;
  std::thread waiter([&] { EXPECT_EQ(gate.Enter(&second), Outcome::kAdmitted); });
  while (gate.waiting() != 1) std::this_thread::yield();
  AdmissionGate::Slot third;
  EXPECT_EQ(gate.Enter(&third), Outcome::kQueueFull);
  EXPECT_EQ(gate.running(), 1);
  first.Release();  // the waiter takes the slot
  waiter.join();
  EXPECT_EQ(gate.running(), 1);
  EXPECT_EQ(gate.waiting(), 0);
  second.Release();
  EXPECT_EQ(gate.running(), 0);
  EXPECT_TRUE(gate.WaitIdle(std::chrono::steady_clock::now()));
}

TEST(AdmissionGateTest, CloseRefusesNewAndCanReleaseWaiting) {
  AdmissionGate gate(1, 4);
  AdmissionGate::Slot running;
  ASSERT_EQ(gate.Enter(&running), Outcome::kAdmitted);
  Outcome waited = Outcome::kAdmitted;
  std::thread waiter([&] {
    AdmissionGate::Slot s;
    waited = gate.Enter(&s);
  });
  while (gate.waiting() != 1) std::this_thread::yield();
  gate.Close(/*release_waiting=*/false);
  AdmissionGate::Slot late;
  EXPECT_EQ(gate.Enter(&late), Outcome::kClosed);
  EXPECT_EQ(gate.waiting(), 1);  // still in line
  gate.Close(/*release_waiting=*/true);
  waiter.join();
  EXPECT_EQ(waited, Outcome::kClosed);
  EXPECT_FALSE(gate.WaitIdle(std::chrono::steady_clock::now()));  // `running` still holds its slot
  running.Release();
  EXPECT_TRUE(gate.WaitIdle(std::chrono::steady_clock::now()));
}

}  // namespace
}  // namespace matspec::server
