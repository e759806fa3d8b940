#include "collectors/http_page.h"

namespace tracer::collectors {

std::string fetch_status_page(HttpClient& client, const HttpRequest& request) {
    auto response = client.fetch(request);
    if (response.status < 200 || response.status >= 300)
        throw std::runtime_error(request.url + ": HTTP " + std::to_string(response.status));
    return std::move(response.body);
}

}  // namespace tracer::collectors
