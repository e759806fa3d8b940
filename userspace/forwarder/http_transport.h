// One HTTP client per sink over libcurl: POSTs a Payload with its headers,
// keeps the connection alive between requests, and reports what the sender
// needs to decide between success, retry and rejection.
#pragma once

#include "forwarder/payload.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace tracer::forwarder {

struct HttpTransportOptions {
    std::string url;
    double timeout_seconds = 10;
    bool tls_verify = true;
    std::string ca_file, cert_file, key_file, proxy;
    std::vector<std::string> headers;  // "Name: value", e.g. the API key header (never logged)
};

struct HttpResult {
    long status = 0;            // 0: no HTTP answer (see error)
    std::string error;          // transport error (connect, TLS, timeout), for logs
    std::string body;           // the answer's first 4 KiB, for logs
    double retry_after = -1;    // seconds from Retry-After (delta or HTTP date); -1 if absent
    bool ok() const { return status >= 200 && status < 300; }
    // Worth retrying: no answer, 408, 429, 5xx. Any other non-2xx is a rejection.
    bool retryable() const { return status == 0 || status == 408 || status == 429 || status >= 500; }
};

class HttpTransport {
public:
    explicit HttpTransport(HttpTransportOptions options);
    ~HttpTransport();
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;

    // Blocks up to the timeout; returns early (status 0) once `abort` is set.
    HttpResult post(const Payload& payload, const std::atomic<bool>& abort);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tracer::forwarder
