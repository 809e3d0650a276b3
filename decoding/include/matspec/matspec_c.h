/* matspec C ABI: load a model once, submit generations, stream, cancel, and
 * read results, from C or any language with a C FFI (Python ctypes:
 * examples/python/). A thin layer over the C++ request API (matspec.h); no C++
 * type or exception crosses it.
 *
 * Conventions
 * - Every function that can fail returns a matspec_status (MATSPEC_OK = 0) and
 *   takes `char** error`: on failure *error receives a message (naming the
 *   JSON key, flag, file or handle at fault) that the caller frees with
 *   matspec_string_free; on success *error is set to NULL. `error` may be NULL
 *   when the caller does not want the message. Messages are per call, so any
 *   number of threads may use the ABI at once.
 * - Options are JSON objects whose keys are the long flags of `matspec
 *   generate` (see `matspec --help`): "model", "threads", "device",
 *   "thread-pool", "no-thread-pool", "f32-activations", "no-cuda-graphs", "no-batching", "gpu-batching",
 *   "max-sequences", "max-queue", "no-batch-draft-cap", "prefill-chunk", "quantize",
 *   "no-huge-pages" when loading;
 *   "n-predict", "temp", "top-k", "top-p", "seed", "draft-max",
 *   "matformer-config-path", "matformer-slice-name", "draft-ffn",
 *   "no-speculative", "ignore-eos", ... when generating. NULL or "" means {}.
 * - Results are the JSON object of `matspec generate --json`:
 *   {"text", "tokens", "prompt_tokens", "stats": {..., "stop_reason"}}.
 *   Strings returned through `char**` are owned by the caller
 *   (matspec_string_free).
 * - Destroy functions accept NULL.
 *
 * Lifetime: a request keeps the model alive, so matspec_engine_destroy may be
 * called while requests run. matspec_request_destroy cancels a request that is
 * still running and waits for it to stop (at most one round); it must not be
 * called from the request's own stream callback.
 */
#ifndef MATSPEC_MATSPEC_C_H_
#define MATSPEC_MATSPEC_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The canonical status codes (the values of absl::StatusCode). */
typedef enum matspec_status {
  MATSPEC_OK = 0,
  MATSPEC_CANCELLED = 1,
  MATSPEC_UNKNOWN = 2,
  MATSPEC_INVALID_ARGUMENT = 3,    /* bad JSON, an unknown key, a value out of range */
  MATSPEC_NOT_FOUND = 5,           /* a file that does not exist */
  MATSPEC_FAILED_PRECONDITION = 9, /* a handle used in a state that forbids it */
  MATSPEC_OUT_OF_RANGE = 11,       /* e.g. a prompt longer than the context */
  MATSPEC_UNIMPLEMENTED = 12,
  MATSPEC_INTERNAL = 13,
  MATSPEC_UNAVAILABLE = 14
} matspec_status;

typedef struct matspec_engine matspec_engine;   /* a loaded model */
typedef struct matspec_request matspec_request; /* one submitted generation */

/* Receives each round's committed tokens and the text they complete (`text`
 * is NUL-terminated, text_len bytes, "" without a tokenizer). Runs on the
 * request's thread; return 0 to continue, non-zero to stop the request
 * (stop_reason "callback"). */
typedef int (*matspec_stream_callback)(const char* text, size_t text_len, const int32_t* tokens,
                                       size_t num_tokens, void* user_data);

/* "0.1.0" */
const char* matspec_version(void);

/* Frees a string returned by this ABI; NULL is fine. */
void matspec_string_free(char* s);

/* Loads a model: options_json needs "model" (a directory); generation keys
 * are refused (they belong to matspec_submit). *engine is NULL on failure. */
matspec_status matspec_engine_load(const char* options_json, matspec_engine** engine, char** error);
void matspec_engine_destroy(matspec_engine* engine);

/* Starts generating from `prompt` (text; needs a tokenizer) and returns at
 * once with *request. Bad options or a bad prompt fail here; errors while
 * generating come back from matspec_request_wait. With a callback, events go
 * to it; without, they queue for matspec_request_next. */
matspec_status matspec_submit(matspec_engine* engine, const char* prompt, const char* options_json,
                              matspec_stream_callback callback, void* user_data, matspec_request** request,
                              char** error);
/* The same from token ids (no BOS added). */
matspec_status matspec_submit_tokens(matspec_engine* engine, const int32_t* prompt_ids, size_t num_ids,
                                     const char* options_json, matspec_stream_callback callback,
                                     void* user_data, matspec_request** request, char** error);

/* The next event as {"tokens": [...], "text": "..."}, waiting for it; at the
 * end of the stream MATSPEC_OK with *event_json = NULL. */
matspec_status matspec_request_next(matspec_request* request, char** event_json, char** error);

/* Asks the request to stop before its next round and returns at once;
 * matspec_request_wait then gives the tokens and statistics so far with
 * stop_reason "cancelled". Cancelling a request that ended on its own does
 * nothing; cancelling it twice, or after its result was taken, is
 * MATSPEC_FAILED_PRECONDITION. */
matspec_status matspec_request_cancel(matspec_request* request, char** error);

/* Waits for the end and hands over the result JSON (once: a second call is
 * MATSPEC_FAILED_PRECONDITION). An error that ended the request is returned
 * as that error. */
matspec_status matspec_request_wait(matspec_request* request, char** result_json, char** error);

/* The statistics so far (the "stats" object), without waiting. */
matspec_status matspec_request_stats(matspec_request* request, char** stats_json, char** error);

/* Cancels if still running, waits for the end, frees. NULL is fine. */
void matspec_request_destroy(matspec_request* request);

/* The one-call convenience: submit and wait. */
matspec_status matspec_generate(matspec_engine* engine, const char* prompt, const char* options_json,
                                matspec_stream_callback callback, void* user_data, char** result_json,
                                char** error);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MATSPEC_MATSPEC_C_H_ */
