#include "decoding/batch_scheduler.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "decoding/decode_loop.h"
#include "draft/adaptive_draft_length.h"
#include "draft/drafter.h"
#include "engine/status_macros.h"
#include "verify/verifier.h"

namespace matspec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Two drafts whose forwards can share a batch: the same layers, widths and head.
bool SameSlice(const SliceView& a, const SliceView& b) {
  if (a.layers != b.layers || a.ffn_widths != b.ffn_widths || a.head_rows != b.head_rows) return false;
  if (!a.head_ids || !b.head_ids) return !a.head_ids && !b.head_ids;
  return a.head_ids == b.head_ids || *a.head_ids == *b.head_ids;
}

}  // namespace

int64_t BatchDraftCap(int64_t active) {
  if (active <= 1) return kMaxDraft;
  if (active <= 2) return 4;
  if (active <= 4) return 2;
  return 0;
}

// One request while the scheduler holds it.
struct BatchScheduler::Sequence {
  std::shared_ptr<RequestCore> core;
  PreparedGeneration job;
  GenerationResult result;
  std::unique_ptr<DecodeLoop> loop;
  std::unique_ptr<Drafter> drafter;  // null: plain decoding
  // DraftPolicy::adopt_verifier_kv where the caches allow it: the draft skips
  // the prompt and copies the verifier's rows of what it lacks before each draft.
  bool adopts_rows = false;
  std::optional<SequenceDraftLength> adaptive;  // --draft-adaptive
  std::unique_ptr<Verifier> verifier;
  std::unique_ptr<TextStreamer> streamer;
  DraftProposal proposal;  // this round's draft
  int64_t max_draft = 0;   // this round's k
  double draft_seconds = 0.0;
  bool prefilling = true;  // its prompt is still entering the caches, chunk by chunk
  Clock::time_point start, admitted, decode_start;
  Clock::time_point last_round;  // when its previous round was recorded (first: decode_start)
  absl::Status error;      // ends the request with this error
  bool finished = false;
};

bool BatchScheduler::DraftPrefills(const Sequence& seq) {
  return seq.drafter && !seq.adopts_rows && seq.drafter->NextPrefillChunk(seq.job.prompt, 1).t > 0;
}

BatchScheduler::BatchScheduler(std::shared_ptr<EngineState> state, Options options)
    : state_(std::move(state)),
      options_(options),
      full_(state_->model->FullSlice()),
      scratch_(state_->model->NewScratch()) {
  thread_ = std::thread([this] { Loop(); });
}

BatchScheduler::~BatchScheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  // The last owner may be a handle dropped inside a callback, on the thread itself.
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

absl::Status BatchScheduler::Enqueue(PreparedGeneration job, std::shared_ptr<RequestCore> core) {
  auto seq = std::make_unique<Sequence>();
  seq->start = Clock::now();
  seq->result = NewResult(*state_, job);
  seq->job = std::move(job);
  seq->job.params.cancel = core->cancel_flag();
  seq->core = std::move(core);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.max_queue > 0 && static_cast<int64_t>(queue_.size()) >= options_.max_queue) {
      return absl::ResourceExhaustedError(absl::StrCat("the queue is full: ", queue_.size(),
                                                       " requests already wait for a place in the batch (--max-queue ",
                                                       options_.max_queue, ", --max-sequences ",
                                                       options_.max_sequences, ")"));
    }
    queue_.push_back(std::move(seq));
  }
  wake_.notify_all();
  return absl::OkStatus();
}

void BatchScheduler::Loop() {
  std::vector<std::unique_ptr<Sequence>> active;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty() || !active.empty(); });
      if (stop_) break;
    }
    Admit(&active);
    if (!active.empty()) Round(&active);
  }
  // Stopping: nobody holds a handle any more; end what is left.
  std::deque<std::unique_ptr<Sequence>> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued.swap(queue_);
  }
  for (auto& seq : queued) active.push_back(std::move(seq));
  for (auto& seq : active) {
    if (seq->loop) {
      seq->loop->StopBy("cancelled");
    } else {
      seq->result.stats.stop_reason = "cancelled";
    }
    Finish(*seq);
  }
}

void BatchScheduler::Admit(std::vector<std::unique_ptr<Sequence>>* active) {
  std::vector<std::unique_ptr<Sequence>> admitted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      const bool cancelled = (*it)->core->cancelled();
      if (!cancelled && static_cast<int64_t>(active->size() + admitted.size()) >= options_.max_sequences) {
        ++it;
        continue;
      }
      admitted.push_back(std::move(*it));
      it = queue_.erase(it);
    }
  }
  for (auto& owned : admitted) {
    Sequence& seq = *owned;
    if (seq.core->cancelled()) {  // cancelled while queued: nothing ran
      seq.result.stats.stop_reason = "cancelled";
      Finish(seq);
      continue;
    }
    const DecodeParams& params = seq.job.params;
    seq.error = DecodeLoop::CheckPrompt(params, static_cast<int64_t>(seq.job.prompt.size()));
    if (!seq.error.ok()) {
      Finish(seq);
      continue;
    }
    const int64_t capacity = RunnerCapacity(params);
    const Model* model = state_->model.get();
    try {
      seq.verifier = std::make_unique<Verifier>(model, capacity, params.draft ? params.policy.draft_max : 0,
                                                params.sampling, params.seed, scratch_.get());
      if (params.draft) {
        seq.drafter =
            std::make_unique<Drafter>(model, *params.draft, capacity, params.sampling, params.seed, scratch_.get());
      }
    } catch (const std::bad_alloc&) {  // the thread serves every other request: it must not die
      seq.error = absl::ResourceExhaustedError(absl::StrCat(
          "out of memory for the KV caches of a request with a context of ", params.context_size,
          " tokens (--ctx-size) beside ", active->size(), " running requests (--max-sequences)"));
      Finish(seq);
      continue;
    }
    // A device cache that did not get its memory ends this request here, not
    // the batch forward of every other one.
    seq.error = seq.verifier->cache().status();
    if (seq.error.ok() && seq.drafter) seq.error = seq.drafter->cache().status();
    seq.adopts_rows =
        seq.drafter && params.policy.adopt_verifier_kv && seq.drafter->CanAdoptRows(seq.verifier->cache());
    if (!seq.error.ok()) {
      Finish(seq);
      continue;
    }
    if (state_->tokenizer) {
      seq.streamer = std::make_unique<TextStreamer>(state_->tokenizer.get());
      seq.streamer->Prime(seq.job.prompt);
    }
    seq.loop = std::make_unique<DecodeLoop>(params, seq.job.prompt, &seq.result.stats, &seq.result.tokens);
    if (params.draft && params.adaptive_draft) seq.adaptive.emplace(AdaptiveOptions(params), params.draft_memory);
    seq.admitted = Clock::now();  // its prompt enters the caches with the next rounds' forwards
    seq.prefilling = seq.verifier->NextPrefillChunk(seq.job.prompt, 1).t > 0 || DraftPrefills(seq);
    if (!seq.prefilling) seq.decode_start = seq.last_round = seq.admitted;  // a one-token prompt
    active->push_back(std::move(owned));
  }
}

void BatchScheduler::Round(std::vector<std::unique_ptr<Sequence>>* active) {
  // Size every decoding sequence's round; the ended ones leave.
  int64_t decoding = 0;
  for (auto& seq : *active) decoding += seq->prefilling ? 0 : 1;
  const int64_t cap = options_.batch_aware_draft ? BatchDraftCap(decoding) : kMaxDraft;
  std::vector<Sequence*> running, prefilling;
  for (auto& seq : *active) {
    if (seq->prefilling) {
      if (seq->core->cancelled()) {
        seq->loop->StopBy("cancelled");
        Finish(*seq);
      } else {
        prefilling.push_back(seq.get());
      }
      continue;
    }
    // Only greedy requests are capped: their tokens do not depend on k, while a
    // sampled request's seed decides its tokens through the k it drafts with.
    int64_t k_cap = seq->job.params.sampling.greedy() ? cap : kMaxDraft;
    if (seq->adaptive) k_cap = std::min(k_cap, seq->adaptive->NextDraftCap());  // the drafter stops by confidence
    std::optional<int64_t> k = seq->loop->NextRound(k_cap);
    if (!k) {
      Finish(*seq);
      continue;
    }
    seq->max_draft = *k;
    seq->draft_seconds = 0.0;
    seq->proposal.tokens.clear();
    seq->proposal.q.clear();
    seq->proposal.top_p.clear();
    seq->proposal.logit_gap.clear();
    running.push_back(seq.get());
  }
  // Draft: one group per slice.
  for (const std::vector<Sequence*>& group : SliceGroups(running, /*drafting_only=*/true)) Draft(group);
  // Prompts still entering the caches: the draft's chunks, one forward per slice ...
  for (const std::vector<Sequence*>& group : SliceGroups(prefilling, /*drafting_only=*/false)) PrefillDrafts(group);
  // ... the verifier's chunks inside the verification forward.
  Verify(running, prefilling);
  for (Sequence* seq : prefilling) {
    if (!seq->error.ok()) {
      Finish(*seq);
      continue;
    }
    if (!DraftPrefills(*seq) && seq->verifier->NextPrefillChunk(seq->job.prompt, 1).t == 0) {
      seq->prefilling = false;
      seq->decode_start = seq->last_round = Clock::now();
      seq->result.stats.prefill_seconds = Seconds(seq->admitted, seq->decode_start);
    }
  }
  // Those that ended leave the batch.
  std::erase_if(*active, [](const std::unique_ptr<Sequence>& seq) { return seq->finished; });
}

std::vector<std::vector<BatchScheduler::Sequence*>> BatchScheduler::SliceGroups(const std::vector<Sequence*>& seqs,
                                                                                 bool drafting_only) {
  std::vector<std::vector<Sequence*>> groups;
  for (Sequence* seq : seqs) {
    if (!seq->drafter || (drafting_only && seq->max_draft == 0)) continue;
    auto same = [&](const std::vector<Sequence*>& g) { return SameSlice(g[0]->drafter->slice(), seq->drafter->slice()); };
    auto it = std::find_if(groups.begin(), groups.end(), same);
    if (it == groups.end()) {
      groups.push_back({seq});
    } else {
      it->push_back(seq);
    }
  }
  return groups;
}

void BatchScheduler::PrefillDrafts(const std::vector<Sequence*>& group) {
  std::vector<BatchSegment> segments;
  std::vector<Sequence*> feeding;
  for (Sequence* seq : group) {
    if (!DraftPrefills(*seq)) continue;
    const BatchSegment g = seq->drafter->NextPrefillChunk(seq->job.prompt, options_.prefill_chunk);
    if (g.t == 0) continue;
    segments.push_back(g);
    feeding.push_back(seq);
  }
  if (segments.empty()) return;
  const absl::Status s = state_->model->ForwardBatch(group[0]->drafter->slice(), segments, scratch_.get());
  if (!s.ok()) {
    for (Sequence* seq : feeding) seq->error = s;
  }
}

void BatchScheduler::Draft(const std::vector<Sequence*>& group) {
  const auto t0 = Clock::now();
  for (Sequence* seq : group) {
    DraftPolicy policy = seq->job.params.policy;
    if (seq->adaptive) policy.stop_rule = seq->adaptive->stop_rule();
    if (seq->adopts_rows && seq->error.ok()) {
      const int64_t committed = static_cast<int64_t>(seq->loop->sequence().size());
      seq->error = seq->drafter->AdoptRows(seq->verifier->cache(), committed);
    }
    seq->drafter->BeginProposal(seq->loop->sequence(), seq->max_draft, policy, &seq->proposal);
  }
  std::vector<BatchSegment> segments;
  std::vector<Sequence*> stepping;
  for (;;) {
    segments.clear();
    stepping.clear();
    for (Sequence* seq : group) {
      if (seq->error.ok() && seq->drafter->WantsForward()) {
        segments.push_back(seq->drafter->NextForward());
        stepping.push_back(seq);
      }
    }
    if (segments.empty()) break;
    const absl::Status s = state_->model->ForwardBatch(group[0]->drafter->slice(), segments, scratch_.get());
    for (Sequence* seq : stepping) seq->error = s.ok() ? seq->drafter->FinishForward() : s;
  }
  const double seconds = Seconds(t0, Clock::now());
  for (Sequence* seq : group) seq->draft_seconds = seconds;
}

void BatchScheduler::Verify(const std::vector<Sequence*>& running, const std::vector<Sequence*>& prefilling) {
  const auto t0 = Clock::now();
  std::vector<BatchSegment> segments;
  std::vector<Sequence*> batch;
  for (Sequence* seq : prefilling) {  // no logits: these rows only fill the caches
    if (!seq->error.ok()) continue;
    const BatchSegment g = seq->verifier->NextPrefillChunk(seq->job.prompt, options_.prefill_chunk);
    if (g.t > 0) segments.push_back(g);
  }
  const size_t prefill_segments = segments.size();
  for (Sequence* seq : running) {
    if (!seq->error.ok()) continue;
    absl::StatusOr<BatchSegment> g =
        seq->verifier->BeginVerify(seq->loop->sequence(), seq->proposal.tokens, seq->proposal.q);
    if (!g.ok()) {
      seq->error = g.status();
      continue;
    }
    segments.push_back(*g);
    batch.push_back(seq);
  }
  absl::Status forward = absl::OkStatus();
  if (!segments.empty()) forward = state_->model->ForwardBatch(full_, segments, scratch_.get());
  if (!forward.ok() && prefill_segments > 0) {
    for (Sequence* seq : prefilling) seq->error = forward;
  }
  const double forward_seconds = Seconds(t0, Clock::now());
  for (Sequence* seq : batch) {
    if (!forward.ok()) {
      seq->error = forward;
      continue;
    }
    const auto t1 = Clock::now();
    absl::StatusOr<AcceptanceResult> r = seq->verifier->FinishVerify();
    if (!r.ok()) {
      seq->error = r.status();
      continue;
    }
    RoundOutcome round;
    round.drafted = static_cast<int64_t>(seq->proposal.tokens.size());
    round.accepted = r->accepted;
    round.tokens.assign(seq->proposal.tokens.begin(), seq->proposal.tokens.begin() + r->accepted);
    round.tokens.push_back(r->next_token);
    round.draft_seconds = seq->draft_seconds;
    round.draft_top_p = seq->proposal.top_p;
    round.draft_logit_gap = seq->proposal.logit_gap;
    round.verify_seconds = forward_seconds + Seconds(t1, Clock::now());
    if (seq->adaptive) {
      // The round's whole wall time, as in SpeculativeDecoder::Run.
      const Clock::time_point now = Clock::now();
      const double rest = std::max(Seconds(seq->last_round, now) - round.draft_seconds, 0.0);
      seq->adaptive->Record(round.drafted, round.accepted, round.draft_seconds, rest, round.draft_logit_gap);
      seq->last_round = now;
    }
    const std::vector<int32_t>& fresh = seq->loop->Commit(std::move(round));
    const int64_t length = seq->loop->committed_length();
    seq->error = seq->verifier->Rollback(length);
    if (seq->error.ok() && seq->drafter) seq->error = seq->drafter->Rollback(length);
    if (!seq->error.ok()) continue;
    const double elapsed = Seconds(seq->start, Clock::now());
    if (!seq->core->Publish(TokensEvent(seq->streamer.get(), seq->job.params.stop_tokens, fresh),
                            StatsSoFar(seq->result.stats, static_cast<int64_t>(seq->result.tokens.size()), elapsed))) {
      seq->loop->StopBy("callback");
    }
  }
  for (Sequence* seq : running) {
    if (!seq->error.ok() || seq->loop->ended()) Finish(*seq);
  }
}

void BatchScheduler::Finish(Sequence& seq) {
  if (seq.finished) return;
  seq.finished = true;
  if (!seq.error.ok()) {
    seq.core->Finish(seq.error);
    return;
  }
  GenerationResult& result = seq.result;
  if (seq.adaptive) seq.adaptive->Finish();
  if (seq.loop) {
    seq.loop->Summarize(Seconds(seq.decode_start, Clock::now()));
    result.stats.draft_kv_bytes = seq.drafter ? seq.drafter->cache_bytes() : 0;
  }
  if (seq.streamer) {
    // The decoder's remainder (an incomplete character at the end) as a last text-only event.
    const std::string rest = seq.streamer->Flush();
    if (!rest.empty()) seq.core->Publish(RequestEvent{.tokens = {}, .text = rest}, result.stats);
    result.text = seq.streamer->generated_text();
  }
  result.stats.resident_weight_bytes = ResidentWeightBytes(*state_->store);
  seq.core->Finish(std::move(result));
}

}  // namespace matspec
