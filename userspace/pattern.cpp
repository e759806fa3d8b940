#include "pattern.h"

#include <re2/re2.h>

namespace tracer {

Pattern::Pattern(const std::string& pattern) {
    RE2::Options options;
    options.set_log_errors(false);  // the error goes into the exception, not to stderr
    // At most ~1 MiB per pattern (RE2's default is 8): the compiled program
    // and the DFA states it caches while matching. Where a text would need
    // more states, RE2 matches the rest without the cache, still linearly.
    options.set_max_mem(1 << 20);
    auto re = std::make_shared<const re2::RE2>(pattern, options);
    if (!re->ok()) throw PatternError(re->error());
    re_ = std::move(re);
}

bool Pattern::search(std::string_view text) const {
    return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

bool Pattern::full_match(std::string_view text) const {
    return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace tracer
