// The built-in CPU backend (see engine/backend.h). Reached through
// GetBackend("cpu"); declared here for the registry only.
#ifndef MATSPEC_ENGINE_CPU_BACKEND_H_
#define MATSPEC_ENGINE_CPU_BACKEND_H_

#include "engine/backend.h"

namespace matspec {

const Backend& CpuBackendInstance();

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CPU_BACKEND_H_
