//===- Server.h - ./model serve: an OpenAI-compatible HTTP server -*- C++
//-*-===//
//
// `./model serve [--host H] [--port P] [--weights DIR | --dummy-weights]`
// loads the weights once, starts the engine (Engine.h: continuous batching
// over the compiled batch) and answers HTTP/1.1 (Boost.Beast, a thread per
// connection; JSON through nlohmann::json):
//
//   GET  /health             {"status": "ok"}
//   GET  /v1/models          the one model
//   GET  /metrics            Prometheus text: requests, tokens, steps,
//                            running and waiting sequences
//   POST /v1/chat/completions  messages in the compiled chat format (R1:
//                            reasoning_content apart), logprobs/top_logprobs
//   POST /v1/completions     OpenAI's completions: prompt (a string, token
//                            ids, or a list of either: one choice each),
//                            max_tokens, temperature, top_p, top_k, min_p,
//                            seed, stop (strings), logprobs (0-5), stream
//                            (server-sent events ending "data: [DONE]"),
//                            ignore_eos
//
// Errors are OpenAI's {"error": {"message", "type", "code"}} with status 400
// (bad request), 404 or 405.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_SERVER_SERVER_H
#define DSRT_SRC_SERVER_SERVER_H

#include "dsrt/Program.h"
#include "dsrt/Session.h"

namespace dsrt::server {

/// The `serve` command (argv[0] is the executable, argv[1] "serve").
/// Returns the exit status.
int runServer(int argc, char **argv, const Program &program,
              const SessionOptions &sessionOptions);

} // namespace dsrt::server

#endif // DSRT_SRC_SERVER_SERVER_H
