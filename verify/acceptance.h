// Acceptance: the pure decision of how many drafted tokens survive
// verification and which token comes next. Randomness is an input (uniform
// draws keyed by position, see engine/random.h), so the CPU and CUDA paths
// accept exactly the same tokens for the same seed.
//
// Greedy (temperature 0): accept while the draft token equals argmax p_i; the
// next token is argmax p at the first mismatch (or the bonus position).
// Sampling (Leviathan et al. 2023; Chen et al. 2023): accept draft token x_i
// when u_i * q_i(x_i) < p_i(x_i) (i.e. u_i < min(1, p/q); p(x) = 0 always rejects);
// at the first rejection sample norm(max(0, p_i - q_i)); after k acceptances
// sample the bonus token from p_{k+1}. The emitted tokens are then distributed
// exactly as the target p, whatever q is.
#ifndef MATSPEC_VERIFY_ACCEPTANCE_H_
#define MATSPEC_VERIFY_ACCEPTANCE_H_

#include <cstdint>

namespace matspec {

struct AcceptanceParams {
  bool greedy = true;                   // temperature 0 on both sides
  int64_t k = 0;                        // drafted tokens, >= 0
  int64_t vocab = 0;
  const int32_t* draft_tokens = nullptr;  // [k]
  const float* q = nullptr;             // [k, vocab] processed draft probabilities (unused when greedy)
  const float* p = nullptr;             // [k+1, vocab] processed target probabilities
  const double* accept_uniforms = nullptr;  // [k] in [0, 1) (unused when greedy)
  const double* final_uniforms = nullptr;  // [k+1] in [0, 1): entry n draws the residual or bonus
                                           // token when n tokens are accepted (unused when greedy)
  float* scratch = nullptr;             // [vocab] residual weights (unused when greedy)
};

struct AcceptanceResult {
  int64_t accepted = 0;     // draft tokens kept, 0..k
  int32_t next_token = -1;  // the correction (after a rejection) or bonus token
};

AcceptanceResult Accept(const AcceptanceParams& params);

}  // namespace matspec

#endif  // MATSPEC_VERIFY_ACCEPTANCE_H_
