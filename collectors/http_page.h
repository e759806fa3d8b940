// One HTTP GET of a status page over libcurl (apache's server-status,
// haproxy's CSV, php-fpm's status): the body of a 2xx answer, or an exception
// whose message is the reason a user can act on.
#pragma once

#include <chrono>
#include <string>

namespace tracer::collectors {

struct HttpPageRequest {
    std::string url;
    std::string user;      // HTTP basic auth when not empty
    std::string password;  // never logged nor put in an error
    bool tls_verify = true;
    std::chrono::steady_clock::time_point deadline;  // the whole request gives up then
};

// Throws std::runtime_error "GET <url>: <reason>" ("Couldn't connect to
// server", "HTTP 404", "Timeout was reached", ...).
std::string fetch_http_page(const HttpPageRequest& request);

}  // namespace tracer::collectors
