#include "forwarder/http_transport.h"

#include "tracer_version.h"

#include <curl/curl.h>

#include <cctype>
#include <charconv>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace tracer::forwarder {
namespace {

constexpr size_t kMaxBody = 4096;
constexpr double kMaxRetryAfter = 600;

struct CurlEasyDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlListDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Retry-After: delta-seconds or an HTTP date.
double parse_retry_after(std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    double s = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
    if (ec == std::errc() && end == v.data() + v.size() && s >= 0) return std::min(s, kMaxRetryAfter);
    time_t when = curl_getdate(std::string(v).c_str(), nullptr);
    if (when < 0) return -1;
    double delta = std::difftime(when, std::time(nullptr));
    return delta < 0 ? 0 : std::min(delta, kMaxRetryAfter);
}

}  // namespace

struct HttpTransport::Impl {
    HttpTransportOptions opt;
    std::unique_ptr<CURL, CurlEasyDeleter> curl;
    HttpResult* result = nullptr;
    const std::atomic<bool>* abort = nullptr;

    static size_t on_body(char* data, size_t size, size_t n, void* self) {
        auto* r = static_cast<Impl*>(self)->result;
        size_t len = size * n;
        if (r->body.size() < kMaxBody) r->body.append(data, std::min(len, kMaxBody - r->body.size()));
        return len;
    }
    static size_t on_header(char* data, size_t size, size_t n, void* self) {
        std::string_view h(data, size * n);
        constexpr std::string_view kName = "retry-after:";
        if (h.size() > kName.size()) {
            bool match = true;
            for (size_t i = 0; i < kName.size() && match; ++i)
                match = std::tolower(static_cast<unsigned char>(h[i])) == kName[i];
            if (match) static_cast<Impl*>(self)->result->retry_after = parse_retry_after(h.substr(kName.size()));
        }
        return size * n;
    }
    static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
        return static_cast<Impl*>(self)->abort->load() ? 1 : 0;
    }
};

HttpTransport::HttpTransport(HttpTransportOptions options) : impl_(std::make_unique<Impl>()) {
    global_init();
    impl_->opt = std::move(options);
    impl_->curl.reset(curl_easy_init());
    if (!impl_->curl) throw std::runtime_error("curl_easy_init failed");
}

HttpTransport::~HttpTransport() = default;

HttpResult HttpTransport::post(const Payload& payload, const std::atomic<bool>& abort) {
    HttpResult result;
    Impl& m = *impl_;
    CURL* c = m.curl.get();
    m.result = &result;
    m.abort = &abort;
    curl_easy_reset(c);  // keeps the connection cache
    const std::string url = m.opt.url + payload.path;
    std::unique_ptr<curl_slist, CurlListDeleter> headers;
    auto add = [&](const std::string& h) {
        curl_slist* l = curl_slist_append(headers.get(), h.c_str());
        if (l) (void)headers.release(), headers.reset(l);
    };
    add("Content-Type: " + payload.content_type);
    add("Content-Encoding: " + payload.content_encoding);
    if (payload.content_encoding == "snappy") add("X-Prometheus-Remote-Write-Version: 0.1.0");
    add("Expect:");  // no 100-continue round trip
    for (const auto& h : m.opt.headers) add(h);

    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tracer/" TRACER_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(m.opt.timeout_seconds * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(m.opt.timeout_seconds, 5.0) * 1000));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, m.opt.tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, m.opt.tls_verify ? 2L : 0L);
    if (!m.opt.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, m.opt.ca_file.c_str());
    if (!m.opt.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, m.opt.cert_file.c_str());
    if (!m.opt.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, m.opt.key_file.c_str());
    // An explicit proxy, else none: the environment's http_proxy is not silently used.
    curl_easy_setopt(c, CURLOPT_PROXY, m.opt.proxy.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &m);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Impl::on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &m);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        result.status = 0;
        result.error = curl_easy_strerror(rc);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &result.status);
    }
    m.result = nullptr;
    return result;
}

}  // namespace tracer::forwarder
