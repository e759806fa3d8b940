#include "collectors/http_fetch.h"

#include <curl/curl.h>

#include <ctime>
#include <memory>

namespace tracer::collectors {
namespace {

struct SlistFree {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Sink {
    std::string* body;
    size_t max;
    bool overflow = false;
};

size_t on_data(char* data, size_t size, size_t n, void* user) {
    auto* sink = static_cast<Sink*>(user);
    if (sink->body->size() + size * n > sink->max) {
        sink->overflow = true;
        return 0;
    }
    sink->body->append(data, size * n);
    return size * n;
}

// "Expire date:Jan  1 00:00:00 2030 GMT" (OpenSSL's certinfo) -> unix seconds.
std::optional<int64_t> parse_expire(const std::string& value) {
    std::tm tm{};
    const char* end = strptime(value.c_str(), "%b %d %H:%M:%S %Y", &tm);
    if (!end) return std::nullopt;
    return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

HttpResponse http_fetch(const HttpRequest& request) {
    HttpClient once;
    return once.fetch(request);
}

HttpClient::HttpClient() {
    static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    (void)initialised;
}

HttpClient::~HttpClient() {
    if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResponse HttpClient::fetch(const HttpRequest& request) {
    if (curl_)
        curl_easy_reset(static_cast<CURL*>(curl_));  // every option back to its default; the connection stays
    else if (!(curl_ = curl_easy_init()))
        throw std::runtime_error(request.url + ": cannot create an HTTP client");
    HttpResponse response;
    Sink sink{&response.body, request.max_body_bytes};
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline - std::chrono::steady_clock::now())
                  .count();
    if (ms < 1) ms = 1;
    CURL* c = static_cast<CURL*>(curl_);
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(ms));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(ms));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tracer-agent");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, request.tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, request.tls_verify ? 2L : 0L);
    if (!request.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
    if (request.want_certificate) curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    if (!request.username.empty()) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, request.username.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, request.password.c_str());
    }
    if (request.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    }
    std::unique_ptr<curl_slist, SlistFree> headers;
    for (const auto& h : request.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    CURLcode rc = curl_easy_perform(c);
    if (sink.overflow)
        throw std::runtime_error(request.url + ": response larger than " + std::to_string(request.max_body_bytes) +
                                 " bytes");
    if (rc != CURLE_OK) throw std::runtime_error(request.url + ": " + curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &response.seconds);
    if (request.want_certificate) {
        curl_certinfo* info = nullptr;
        if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &info) == CURLE_OK && info && info->num_of_certs > 0)
            for (curl_slist* l = info->certinfo[0]; l; l = l->next) {
                std::string line = l->data;
                if (line.rfind("Expire date:", 0) == 0) response.cert_not_after = parse_expire(line.substr(12));
            }
    }
    return response;
}

}  // namespace tracer::collectors
