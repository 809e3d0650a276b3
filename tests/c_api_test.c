/* The C ABI (matspec/matspec_c.h) from a program compiled as C: load, submit
 * with a streaming callback, pull events, cancel from the callback, wait,
 * statistics, and every misuse the header promises to refuse with an error
 * (bad JSON naming the key, a handle used after cancel or after its result
 * was taken, NULL handles). Exit 0 when every check holds; each failure
 * prints its line. Usage: c_api_test MODEL_DIR (the bundled matlm-tiny). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matspec/matspec_c.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Checks the status and that `error` is set and contains `needle`, then frees it. */
static void expect_error(matspec_status status, matspec_status want, char* error, const char* needle,
                         int line) {
  if (status != want) {
    fprintf(stderr, "line %d: status %d, want %d (%s)\n", line, (int)status, (int)want,
            error ? error : "no message");
    ++failures;
  }
  if (error == NULL || strstr(error, needle) == NULL) {
    fprintf(stderr, "line %d: error \"%s\" does not name \"%s\"\n", line, error ? error : "(null)", needle);
    ++failures;
  }
  matspec_string_free(error);
}
/* The call runs first: it sets `err`. */
#define EXPECT_ERROR(call, want, err, needle)                 \
  do {                                                        \
    const matspec_status status_ = (call);                    \
    expect_error(status_, (want), (err), (needle), __LINE__); \
  } while (0)

struct stream_state {
  size_t events;
  size_t tokens;
  size_t text_bytes;
  size_t stop_after_tokens; /* 0: never stop */
};

static int on_stream(const char* text, size_t text_len, const int32_t* tokens, size_t num_tokens,
                     void* user) {
  struct stream_state* s = (struct stream_state*)user;
  s->events += 1;
  s->tokens += num_tokens;
  s->text_bytes += text_len;
  if (text == NULL || strlen(text) != text_len) ++failures;
  if (num_tokens > 0 && tokens == NULL) ++failures;
  return s->stop_after_tokens > 0 && s->tokens >= s->stop_after_tokens;
}

/* A crude JSON probe: the text after "key": up to the next , or }. */
static int json_has(const char* json, const char* key_and_value) {
  return json != NULL && strstr(json, key_and_value) != NULL;
}

/* The integer after "key": (the first occurrence), or -1. */
static long json_long(const char* json, const char* key) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char* at = json ? strstr(json, pattern) : NULL;
  return at ? strtol(at + strlen(pattern), NULL, 10) : -1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  char model_json[1024];
  snprintf(model_json, sizeof model_json, "{\"model\": \"%s\", \"threads\": 1}", argv[1]);
  char* error = NULL;
  matspec_engine* engine = NULL;

  /* Loading: bad JSON, a misplaced key, a missing model, then the real one. */
  EXPECT_ERROR(matspec_engine_load("{\"model\": ", &engine, &error), MATSPEC_INVALID_ARGUMENT, error,
               "not valid JSON");
  CHECK(engine == NULL);
  EXPECT_ERROR(matspec_engine_load("{\"model\": \"x\", \"n-predict\": 3}", &engine, &error),
               MATSPEC_INVALID_ARGUMENT, error, "n-predict");
  EXPECT_ERROR(matspec_engine_load("{\"model\": \"/nonexistent/model\"}", &engine, &error), MATSPEC_NOT_FOUND,
               error, "/nonexistent/model");
  EXPECT_ERROR(matspec_engine_load("{\"threads\": \"many\"}", &engine, &error), MATSPEC_INVALID_ARGUMENT,
               error, "threads");
  CHECK(matspec_engine_load(model_json, &engine, &error) == MATSPEC_OK);
  CHECK(error == NULL);
  if (engine == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], error ? error : "?");
    return 1;
  }

  /* Bad request options name the key (or flag). */
  matspec_request* request = NULL;
  EXPECT_ERROR(matspec_submit(engine, "Hi", "{\"draft-max\": \"four\"}", NULL, NULL, &request, &error),
               MATSPEC_INVALID_ARGUMENT, error, "draft-max");
  EXPECT_ERROR(matspec_submit(engine, "Hi", "{\"no-such-key\": 1}", NULL, NULL, &request, &error),
               MATSPEC_INVALID_ARGUMENT, error, "no-such-key");
  EXPECT_ERROR(matspec_submit(engine, "Hi", "{\"temp\": -1}", NULL, NULL, &request, &error),
               MATSPEC_INVALID_ARGUMENT, error, "--temp");
  EXPECT_ERROR(matspec_submit(engine, "Hi", "{\"device\": \"cpu\"}", NULL, NULL, &request, &error),
               MATSPEC_INVALID_ARGUMENT, error, "device");
  EXPECT_ERROR(matspec_submit(engine, "Hi", "[1, 2]", NULL, NULL, &request, &error), MATSPEC_INVALID_ARGUMENT,
               error, "JSON object");
  EXPECT_ERROR(matspec_submit(engine, "Hi", "{\"seed\": null}", NULL, NULL, &request, &error),
               MATSPEC_INVALID_ARGUMENT, error, "seed");
  CHECK(request == NULL);
  EXPECT_ERROR(matspec_submit(NULL, "Hi", NULL, NULL, NULL, &request, &error), MATSPEC_INVALID_ARGUMENT,
               error, "engine");

  /* A streamed generation: the callback sees every token; the result is the CLI's --json object. */
  struct stream_state stream = {0, 0, 0, 0};
  char* result = NULL;
  CHECK(matspec_generate(
            engine, "Once upon a time",
            "{\"n-predict\": 24, \"ignore-eos\": true, \"matformer-config-path\": "
            "\"matformer_configs/matlm-tiny.csv\", \"matformer-slice-name\": \"quarter\", \"draft-max\": 3}",
            on_stream, &stream, &result, &error) == MATSPEC_OK);
  CHECK(error == NULL);
  CHECK(stream.tokens == 24);
  CHECK(stream.text_bytes > 0);
  CHECK(json_has(result, "\"generated_tokens\":24"));
  CHECK(json_has(result, "\"stop_reason\":\"length\""));
  CHECK(json_has(result, "\"draft_slice\":\"quarter\""));
  matspec_string_free(result);

  /* Pull mode from token ids (no tokenizer needed), then the handle's later misuse. */
  const int32_t ids[] = {1, 17, 42, 99};
  CHECK(matspec_submit_tokens(engine, ids, 4,
                              "{\"n-predict\": 8, \"ignore-eos\": true, \"draft-ffn\": [192]}", NULL, NULL,
                              &request, &error) == MATSPEC_OK);
  size_t pulled = 0;
  for (;;) {
    char* event = NULL;
    CHECK(matspec_request_next(request, &event, &error) == MATSPEC_OK);
    if (event == NULL) break;
    CHECK(json_has(event, "\"tokens\":["));
    ++pulled;
    matspec_string_free(event);
  }
  CHECK(pulled >= 1);
  CHECK(matspec_request_wait(request, &result, &error) == MATSPEC_OK);
  CHECK(json_has(result, "\"generated_tokens\":8"));
  matspec_string_free(result);
  EXPECT_ERROR(matspec_request_wait(request, &result, &error), MATSPEC_FAILED_PRECONDITION, error,
               "result was taken");
  CHECK(result == NULL);
  EXPECT_ERROR(matspec_request_cancel(request, &error), MATSPEC_FAILED_PRECONDITION, error,
               "result was taken");
  char* event = NULL;
  EXPECT_ERROR(matspec_request_next(request, &event, &error), MATSPEC_FAILED_PRECONDITION, error,
               "result was taken");
  matspec_request_destroy(request);

  /* Cancel: a long generation stops within one round and keeps its partial tokens and statistics. */
  CHECK(matspec_submit(engine, "In the beginning", "{\"n-predict\": 1000, \"ignore-eos\": true}", NULL, NULL,
                       &request, &error) == MATSPEC_OK);
  for (int i = 0; i < 3; ++i) {
    CHECK(matspec_request_next(request, &event, &error) == MATSPEC_OK);
    CHECK(event != NULL);
    matspec_string_free(event);
  }
  CHECK(matspec_request_cancel(request, &error) == MATSPEC_OK);
  EXPECT_ERROR(matspec_request_cancel(request, &error), MATSPEC_FAILED_PRECONDITION, error,
               "already cancelled");
  /* Rounds done once the flag is set: at most the one in flight may follow. */
  char* stats = NULL;
  CHECK(matspec_request_stats(request, &stats, &error) == MATSPEC_OK);
  const long rounds_at_cancel = json_long(stats, "rounds");
  CHECK(rounds_at_cancel >= 3);
  matspec_string_free(stats);
  for (;;) {
    CHECK(matspec_request_next(request, &event, &error) == MATSPEC_OK);
    if (event == NULL) break;
    matspec_string_free(event);
  }
  CHECK(matspec_request_stats(request, &stats, &error) == MATSPEC_OK); /* ended: the final statistics */
  CHECK(json_has(stats, "\"stop_reason\":\"cancelled\""));
  matspec_string_free(stats);
  CHECK(matspec_request_wait(request, &result, &error) == MATSPEC_OK);
  CHECK(json_has(result, "\"stop_reason\":\"cancelled\""));
  CHECK(!json_has(result, "\"generated_tokens\":0,"));
  CHECK(!json_has(result, "\"generated_tokens\":1000,"));
  CHECK(json_long(result, "rounds") <= rounds_at_cancel + 1);
  matspec_string_free(result);
  matspec_request_destroy(request);

  /* Cancelled before it starts: no tokens, still a result. */
  CHECK(matspec_submit(engine, "Now", "{\"n-predict\": 1000}", NULL, NULL, &request, &error) == MATSPEC_OK);
  CHECK(matspec_request_cancel(request, &error) == MATSPEC_OK);
  CHECK(matspec_request_wait(request, &result, &error) == MATSPEC_OK);
  CHECK(json_has(result, "\"stop_reason\":\"cancelled\""));
  matspec_string_free(result);
  matspec_request_destroy(request);

  /* The callback stops a request (stop_reason "callback") after some tokens. */
  struct stream_state stopper = {0, 0, 0, 5};
  CHECK(matspec_generate(engine, "In the beginning", "{\"n-predict\": 200, \"ignore-eos\": true}", on_stream,
                         &stopper, &result, &error) == MATSPEC_OK);
  CHECK(json_has(result, "\"stop_reason\":\"callback\""));
  CHECK(stopper.tokens >= 5 && stopper.tokens < 200);
  matspec_string_free(result);

  /* A running request outlives its engine; destroying it cancels it. */
  CHECK(matspec_submit(engine, "Then", "{\"n-predict\": 500, \"ignore-eos\": true}", NULL, NULL, &request,
                       &error) == MATSPEC_OK);
  matspec_engine_destroy(engine);
  CHECK(matspec_request_next(request, &event, &error) == MATSPEC_OK); /* still streaming */
  matspec_string_free(event);
  matspec_request_destroy(request);

  /* NULL everywhere it is allowed. */
  matspec_engine_destroy(NULL);
  matspec_request_destroy(NULL);
  matspec_string_free(NULL);
  EXPECT_ERROR(matspec_request_wait(NULL, &result, &error), MATSPEC_INVALID_ARGUMENT, error, "request");
  CHECK(strcmp(matspec_version(), "0.1.0") == 0);

  if (failures == 0) printf("c_api_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
