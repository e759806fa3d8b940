// One HTTP(S) request for plugins that read a status page or a /metrics
// endpoint (nginx, http_check, prometheus, ...), over libcurl, giving up at
// the run's deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tracer::collectors {

struct HttpRequest {
    std::string url;
    std::string method = "GET";
    std::string body;                  // sent for methods other than GET/HEAD
    std::vector<std::string> headers;  // "Name: value"
    std::string username, password;   // HTTP basic auth when username is set
    std::chrono::steady_clock::time_point deadline;
    bool tls_verify = true;
    std::string ca_file;
    bool follow_redirects = true;
    bool want_certificate = false;     // fill HttpResponse::cert_not_after (https only)
    size_t max_body_bytes = 64u << 20;
};

struct HttpResponse {
    long status = 0;
    std::string body;
    double seconds = 0;                          // the whole request
    std::optional<int64_t> cert_not_after;       // unix seconds: the server certificate's expiry
};

// Throws std::runtime_error "<url>: <what went wrong>" when no response came
// (refused, timed out, TLS failure, body too large). HTTP error statuses are responses.
// A connection of its own, closed after the answer (http_check: its response
// time and certificate are those of a new connection, as a user's first visit).
HttpResponse http_fetch(const HttpRequest& request);

// The requests of one check, one after another: the connection of the last
// answer is kept (HTTP keep-alive) and the next request goes over it, so a
// status page read every interval costs the server one request, not a
// connection and a request. A connection the server closed meanwhile (its
// keep-alive timeout, a restart) is noticed and replaced by libcurl, the
// request made again on a new one. Not thread-safe: the runner never runs a
// check twice at once.
class HttpClient {
public:
    HttpClient();
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    // As http_fetch.
    HttpResponse fetch(const HttpRequest& request);

private:
    void* curl_ = nullptr;  // CURL*
};

}  // namespace tracer::collectors
