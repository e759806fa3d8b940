#include "config/yaml_documents.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>

namespace tracer::config {
namespace {

// Counts documents, ignores their content.
class DocumentCounter final : public YAML::EventHandler {
public:
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

bool has_document_marker(const std::string& text) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("---", 0) == 0 || line.rfind("...", 0) == 0) return true;
    return false;
}

}  // namespace

std::vector<YAML::Node> load_yaml_documents(const std::string& text) {
    size_t documents = 0;
    {
        std::istringstream in(text);
        YAML::Parser parser(in);
        DocumentCounter counter;
        while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
    }
    if (documents > 1 && !has_document_marker(text))
        throw YAML::ParserException(YAML::Mark::null_mark(),
                                    "not a YAML document yaml-cpp can read (a ',', '[' or '{' where a key should be?)");
    std::vector<YAML::Node> docs;
    if (documents > 0) docs.push_back(YAML::Load(text));
    if (documents > 1) docs.emplace_back();
    return docs;
}

}  // namespace tracer::config
