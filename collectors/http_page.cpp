#include "collectors/http_page.h"

#include <curl/curl.h>

#include <memory>
#include <stdexcept>

namespace tracer::collectors {
namespace {

constexpr size_t kMaxBody = 16u << 20;

struct CurlHandle {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
    auto* body = static_cast<std::string*>(user);
    size_t n = size * count;
    if (body->size() + n > kMaxBody) return 0;  // aborts the transfer
    body->append(data, n);
    return n;
}

}  // namespace

std::string fetch_http_page(const HttpPageRequest& request) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline -
                                                                      std::chrono::steady_clock::now());
    if (left.count() < 1) throw std::runtime_error("GET " + request.url + ": no time left before the check's timeout");
    std::unique_ptr<CURL, CurlHandle> curl(curl_easy_init());
    if (!curl) throw std::runtime_error("GET " + request.url + ": curl_easy_init failed");
    std::string body;
    char error[CURL_ERROR_SIZE] = {};
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tracer");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!request.tls_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!request.user.empty()) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, request.user.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, request.password.c_str());
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_WRITE_ERROR && body.size() >= kMaxBody)
        throw std::runtime_error("GET " + request.url + ": the page is larger than 16 MiB");
    if (rc != CURLE_OK)
        throw std::runtime_error("GET " + request.url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) throw std::runtime_error("GET " + request.url + ": HTTP " + std::to_string(status));
    return body;
}

}  // namespace tracer::collectors
