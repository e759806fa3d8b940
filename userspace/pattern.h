// A regular expression from a user's configuration, matched against text the
// agent does not control: HTTP response bodies, command lines, metric,
// container and image names.
//
// RE2, not std::regex: RE2 matches in time linear in the text, in bounded
// memory and without recursion. libstdc++'s std::regex recurses once per
// character a repetition consumes, so `status.*ok` over one 100 KB line of a
// response body overflows an 8 MiB stack and kills the agent, and it
// backtracks exponentially on patterns such as `(x+x+)+y`, which leaves a
// plugin's thread spinning where no deadline can stop it.
//
// The syntax is RE2's (Perl-like: \d \w \s, (?:...), (?i), character classes,
// counted repetition); back-references and look-around are not offered and
// are refused at compile time, with RE2's reason.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace tracer {

struct PatternError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Pattern {
public:
    // Throws PatternError naming what is wrong with `pattern`.
    explicit Pattern(const std::string& pattern);

    // Somewhere in `text` (std::regex_search).
    bool search(std::string_view text) const;
    // All of `text` (std::regex_match).
    bool full_match(std::string_view text) const;

private:
    std::shared_ptr<const re2::RE2> re_;  // shared: a Pattern is copied with its config; matching is const
};

}  // namespace tracer
