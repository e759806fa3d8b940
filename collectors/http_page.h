// A status page (apache's server-status, haproxy's CSV, php-fpm's status and
// ping) read with an HttpClient: the body of a 2xx answer, or an exception whose
// message is the reason a user can act on.
#pragma once

#include "collectors/http_fetch.h"

#include <string>

namespace tracer::collectors {

// Throws std::runtime_error "<url>: HTTP <status>" for a non-2xx answer, or
// http_fetch's "<url>: <reason>" when none came (refused, timed out, ...).
// Over `client`'s kept connection (see HttpClient).
std::string fetch_status_page(HttpClient& client, const HttpRequest& request);

}  // namespace tracer::collectors
