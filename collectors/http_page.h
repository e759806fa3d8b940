// A status page (apache's server-status, haproxy's CSV, php-fpm's status and
// ping) read with http_fetch: the body of a 2xx answer, or an exception whose
// message is the reason a user can act on.
#pragma once

#include "collectors/http_fetch.h"

#include <string>

namespace tracer::collectors {

// Throws std::runtime_error "<url>: HTTP <status>" for a non-2xx answer, or
// http_fetch's "<url>: <reason>" when none came (refused, timed out, ...).
std::string fetch_status_page(const HttpRequest& request);

}  // namespace tracer::collectors
