#include "verify/acceptance.h"

#include "kernels/logits.h"

namespace matspec {

AcceptanceResult Accept(const AcceptanceParams& a) {
  AcceptanceResult r;
  const int64_t v = a.vocab;
  if (a.greedy) {
    int64_t i = 0;
    for (; i < a.k; ++i) {
      if (Argmax(a.p + i * v, v) != a.draft_tokens[i]) break;
    }
    r.accepted = i;
    r.next_token = Argmax(a.p + i * v, v);
    return r;
  }
  for (int64_t i = 0; i < a.k; ++i) {
    const float* p = a.p + i * v;
    const float* q = a.q + i * v;
    const int32_t x = a.draft_tokens[i];
    const double px = p[x];
    const double qx = q[x];
    if (a.accept_uniforms[i] * qx < px) continue;  // accepted: u < p/q (never when p(x) = 0)
    // Rejected: sample from the residual max(0, p - q), unnormalised.
    double mass = 0.0;
    for (int64_t t = 0; t < v; ++t) {
      const float d = p[t] - q[t];
      a.scratch[t] = d > 0.f ? d : 0.f;
      mass += a.scratch[t];
    }
    r.accepted = i;
    // mass == 0 only when p == q, where rejection has probability 0; fall back to p.
    r.next_token = mass > 0.0 ? SampleFromWeights(a.scratch, v, a.final_uniforms[i])
                              : SampleFromWeights(p, v, a.final_uniforms[i]);
    return r;
  }
  r.accepted = a.k;
  r.next_token = SampleFromWeights(a.p + a.k * v, v, a.final_uniforms[a.k]);
  return r;
}

}  // namespace matspec
