// Counter-based randomness: every random decision of a generation is a pure
// function of (seed, sequence position, stream). No generator state is carried
// between calls, so the CPU and CUDA paths (and a run resumed mid-way) draw
// exactly the same uniforms, and "same seed, same output" holds by construction.
#ifndef MATSPEC_ENGINE_RANDOM_H_
#define MATSPEC_ENGINE_RANDOM_H_

#include <cstdint>

namespace matspec {

// Which decision a uniform belongs to, so the draws for one position are independent.
enum class RandomStream : uint32_t {
  kDraft = 1,   // the draft sampling its proposal at a position
  kAccept = 2,  // the accept/reject test of a drafted token
  kTarget = 3,  // a token sampled from the target (plain decoding, residual, bonus)
};

// SplitMix64 finaliser: a bijective 64-bit mix.
constexpr uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A uniform double in [0, 1) with 53 random bits.
constexpr double Uniform(uint64_t seed, int64_t position, RandomStream stream) {
  uint64_t h = Mix64(seed + 0x9e3779b97f4a7c15ull);
  h = Mix64(h ^ (static_cast<uint64_t>(position) * 0xd1b54a32d192ed03ull));
  h = Mix64(h ^ (static_cast<uint64_t>(stream) * 0x8cb92ba72f3d8dd7ull));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace matspec

#endif  // MATSPEC_ENGINE_RANDOM_H_
