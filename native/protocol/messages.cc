#include "protocol/messages.h"

#include <simdjson.h>

#include <limits>
#include <optional>

#include "common/json_writer.h"

namespace pycage::protocol {
namespace {

Status Malformed(const std::string& what) {
  return Status::Error(ErrorCode::kInternal, "malformed message from the jail: " + what);
}

// Reads an optional integer field; a present field of the wrong type fails.
template <typename T>
bool ReadOptionalInt(simdjson::dom::object& object, const char* key, std::optional<T>* out) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) return true;
  int64_t number = 0;
  if (value.get_int64().get(number) != simdjson::SUCCESS) return false;
  if (number < std::numeric_limits<T>::min() || number > std::numeric_limits<T>::max()) return false;
  *out = static_cast<T>(number);
  return true;
}

// Parses `json` as one object; `what` names the message in the error.
Status ParseObject(simdjson::dom::parser& parser, std::string_view json, const char* what,
                   simdjson::dom::object* object) {
  simdjson::padded_string padded(json);
  if (parser.parse(padded).get_object().get(*object) != simdjson::SUCCESS) {
    return Malformed(std::string(what) + " is not a JSON object");
  }
  return Status::Ok();
}

bool ReadString(simdjson::dom::object& object, const char* key, std::string* out) {
  std::string_view text;
  if (object[key].get_string().get(text) != simdjson::SUCCESS) return false;
  out->assign(text);
  return true;
}

// Decoded size of strict base64 (padded, standard alphabet), or nullopt.
std::optional<size_t> Base64DecodedSize(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (alpha && padding == 0) continue;
    if (c != '=' || i + 2 < text.size()) return std::nullopt;  // '=' only in the last two places
    ++padding;
  }
  return text.size() / 4 * 3 - padding;
}

// The base64 of a PNG starts with the encoded 8-byte PNG signature.
constexpr std::string_view kPngBase64Prefix = "iVBORw0KGgo";

Status ReadFigures(simdjson::dom::object& object, RunReplyMeta* meta) {
  simdjson::dom::element value;
  if (object["figures"].get(value) != simdjson::SUCCESS) return Status::Ok();
  simdjson::dom::array figures;
  if (value.get_array().get(figures) != simdjson::SUCCESS) return Malformed("reply 'figures' is not an array");
  if (figures.size() > kMaxFigures) {
    return Malformed("reply has " + std::to_string(figures.size()) + " figures, more than " + std::to_string(kMaxFigures));
  }
  size_t png_bytes = 0;
  for (simdjson::dom::element item : figures) {
    simdjson::dom::object figure;
    if (item.get_object().get(figure) != simdjson::SUCCESS) return Malformed("a reply figure is not an object");
    Figure out;
    if (!ReadString(figure, "type", &out.type) || out.type != "image/png") {
      return Malformed("a reply figure's 'type' is not \"image/png\"");
    }
    std::string_view data;
    if (figure["data"].get_string().get(data) != simdjson::SUCCESS) return Malformed("a reply figure has no string 'data'");
    const std::optional<size_t> size = Base64DecodedSize(data);
    if (!size || data.substr(0, kPngBase64Prefix.size()) != kPngBase64Prefix) {
      return Malformed("a reply figure's 'data' is not base64 of a PNG");
    }
    png_bytes += *size;
    if (png_bytes > kMaxFigurePngBytes) {
      return Malformed("reply figures hold more than " + std::to_string(kMaxFigurePngBytes) + " bytes of PNG");
    }
    out.data.assign(data);
    meta->figures.push_back(std::move(out));
  }
  bool truncated = false;
  if (object["figuresTruncated"].get(value) == simdjson::SUCCESS) {
    if (value.get_bool().get(truncated) != simdjson::SUCCESS) return Malformed("reply 'figuresTruncated' is not a boolean");
  }
  meta->figures_truncated = truncated;
  return Status::Ok();
}

Status ReadAudit(simdjson::dom::object& object, RunReplyMeta* meta) {
  simdjson::dom::element value;
  if (object["audit"].get(value) != simdjson::SUCCESS) return Status::Ok();
  simdjson::dom::array audit;
  if (value.get_array().get(audit) != simdjson::SUCCESS) return Malformed("reply 'audit' is not an array");
  if (audit.size() > kMaxAuditEntries) {
    return Malformed("reply has " + std::to_string(audit.size()) + " audit entries, more than " +
                     std::to_string(kMaxAuditEntries));
  }
  for (simdjson::dom::element item : audit) {
    simdjson::dom::object entry;
    if (item.get_object().get(entry) != simdjson::SUCCESS) return Malformed("a reply audit entry is not an object");
    AuditEntry out;
    if (!ReadString(entry, "kind", &out.kind) || (out.kind != "module" && out.kind != "member")) {
      return Malformed("a reply audit entry's 'kind' is not \"module\" or \"member\"");
    }
    if (!ReadString(entry, "name", &out.name) || out.name.empty() || out.name.size() > kMaxAuditNameBytes) {
      return Malformed("a reply audit entry has no 'name' of 1 to " + std::to_string(kMaxAuditNameBytes) + " bytes");
    }
    if (!ReadString(entry, "message", &out.message) || out.message.size() > kMaxAuditMessageBytes) {
      return Malformed("a reply audit entry has no 'message' of at most " + std::to_string(kMaxAuditMessageBytes) +
                       " bytes");
    }
    meta->audit.push_back(std::move(out));
  }
  return Status::Ok();
}

Status ReadImported(simdjson::dom::object& object, RunReplyMeta* meta) {
  simdjson::dom::element value;
  if (object["imported"].get(value) != simdjson::SUCCESS) return Status::Ok();
  simdjson::dom::array names;
  if (value.get_array().get(names) != simdjson::SUCCESS) return Malformed("reply 'imported' is not an array");
  if (names.size() > kMaxImportedModules) {
    return Malformed("reply lists " + std::to_string(names.size()) + " imported modules, more than " +
                     std::to_string(kMaxImportedModules));
  }
  for (simdjson::dom::element item : names) {
    std::string_view name;
    if (item.get_string().get(name) != simdjson::SUCCESS || !IsModuleName(name)) {
      return Malformed("a reply 'imported' entry is not a dotted module name of at most " +
                       std::to_string(kMaxModuleNameBytes) + " bytes");
    }
    meta->imported.emplace_back(name);
  }
  return Status::Ok();
}

}  // namespace

bool IsModuleName(std::string_view name) {
  if (name.empty() || name.size() > kMaxModuleNameBytes) return false;
  bool at_start = true;  // of a dotted part
  for (const char c : name) {
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (c == '.') {
      if (at_start) return false;
      at_start = true;
    } else if (letter || (digit && !at_start)) {
      at_start = false;
    } else {
      return false;
    }
  }
  return !at_start;
}

std::string BuildRunCommand(uint64_t id, uint32_t slot, const ChildLimits& limits, std::string_view session) {
  JsonObjectWriter limits_writer;
#define PYCAGE_LIMIT_FIELD(member, key, fallback) limits_writer.Uint(key, limits.member);
  PYCAGE_CHILD_LIMITS(PYCAGE_LIMIT_FIELD)
#undef PYCAGE_LIMIT_FIELD
  std::string limits_json = limits_writer.Finish();
  JsonObjectWriter command;
  command.String("op", "run").Uint("id", id).Uint("slot", slot).Raw("limits", limits_json);
  if (!session.empty()) command.String("session", session);
  return command.Finish();
}

std::string BuildCloseSessionCommand(std::string_view session) {
  return JsonObjectWriter().String("op", "closeSession").String("session", session).Finish();
}

std::string BuildKillCommand(uint64_t id) { return JsonObjectWriter().String("op", "kill").Uint("id", id).Finish(); }

std::string BuildShutdownCommand() { return JsonObjectWriter().String("op", "shutdown").Finish(); }

std::string BuildRunRequestMeta(std::string_view code, uint64_t result_bytes) {
  return JsonObjectWriter().String("code", code).Uint("resultBytes", result_bytes).Finish();
}

Result<ControlMessage> ParseControlMessage(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (Status s = ParseObject(parser, json, "control frame", &object); !s.ok()) return s;
  std::string_view op;
  if (object["op"].get_string().get(op) != simdjson::SUCCESS) return Malformed("control frame has no string 'op'");

  ControlMessage message;
  if (op == "ready") {
    message.op = ControlMessage::Op::kReady;
    ReadString(object, "python", &message.python_version);
    ReadString(object, "abi", &message.abi);
    return message;
  }
  if (op != "exit") return Malformed("unknown control op '" + std::string(op) + "'");

  message.op = ControlMessage::Op::kExit;
  if (object["id"].get_uint64().get(message.id) != simdjson::SUCCESS) return Malformed("exit frame has no unsigned 'id'");
  if (!ReadOptionalInt(object, "code", &message.exit_code) || !ReadOptionalInt(object, "signal", &message.signal)) {
    return Malformed("exit frame has a non-integer 'code' or 'signal'");
  }
  double cpu_ms = 0;
  if (object["cpuMs"].get_double().get(cpu_ms) == simdjson::SUCCESS && cpu_ms >= 0) message.cpu_ms = cpu_ms;
  uint64_t max_rss = 0;
  if (object["maxRssKb"].get_uint64().get(max_rss) == simdjson::SUCCESS) message.max_rss_kb = max_rss;
  std::string setup_error;
  if (ReadString(object, "setupError", &setup_error)) message.setup_error = std::move(setup_error);
  return message;
}

Result<RunReplyMeta> ParseRunReplyMeta(std::string_view json) {
  if (json.size() > kMaxReplyMetaBytes) {
    return Malformed("reply of " + std::to_string(json.size()) + " bytes is over the " +
                     std::to_string(kMaxReplyMetaBytes) + " byte cap");
  }
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (Status s = ParseObject(parser, json, "reply", &object); !s.ok()) return s;
  std::string_view status;
  if (object["status"].get_string().get(status) != simdjson::SUCCESS) return Malformed("reply has no string 'status'");

  RunReplyMeta meta;
  simdjson::dom::object usage;
  if (object["usage"].get_object().get(usage) == simdjson::SUCCESS) {
    double cpu_ms = 0;
    if (usage["cpuMs"].get_double().get(cpu_ms) == simdjson::SUCCESS && cpu_ms >= 0) meta.cpu_ms = cpu_ms;
    uint64_t max_rss = 0;
    if (usage["maxRssKb"].get_uint64().get(max_rss) == simdjson::SUCCESS) meta.max_rss_kb = max_rss;
  }
  bool session_started = false;
  if (object["sessionStarted"].get_bool().get(session_started) == simdjson::SUCCESS) {
    meta.session_started = session_started;
  }
  if (status == "ok" || status == "error") {
    if (Status s = ReadFigures(object, &meta); !s.ok()) return s;
    if (Status s = ReadAudit(object, &meta); !s.ok()) return s;
    if (Status s = ReadImported(object, &meta); !s.ok()) return s;
  }
  if (status == "ok") {
    meta.status = RunReplyMeta::Status::kOk;
    return meta;
  }
  if (status == "setup_error") {
    meta.status = RunReplyMeta::Status::kSetupError;
    if (!ReadString(object, "message", &meta.setup_message)) return Malformed("setup_error reply has no 'message'");
    return meta;
  }
  if (status != "error") return Malformed("unknown reply status '" + std::string(status) + "'");

  meta.status = RunReplyMeta::Status::kError;
  simdjson::dom::object error;
  if (object["error"].get_object().get(error) != simdjson::SUCCESS) return Malformed("error reply has no 'error' object");
  if (!ReadString(error, "type", &meta.error.type) || meta.error.type.empty()) return Malformed("error reply has no 'type'");
  ReadString(error, "message", &meta.error.message);
  ReadString(error, "traceback", &meta.error.traceback);
  if (!ReadOptionalInt(error, "line", &meta.error.line)) return Malformed("error reply has a non-integer 'line'");
  return meta;
}

Status ValidateResultJson(std::string_view json, size_t max_depth) {
  simdjson::dom::parser parser;
  if (parser.allocate(json.size() + 1, max_depth) != simdjson::SUCCESS) {
    return Status::Error(ErrorCode::kInternal, "cannot allocate a JSON parser for the result");
  }
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  const auto error = parser.parse(padded).get(root);
  if (error == simdjson::DEPTH_ERROR) {
    return Status::Error(ErrorCode::kInternal, "result nests deeper than " + std::to_string(max_depth) + " levels");
  }
  if (error != simdjson::SUCCESS) {
    return Status::Error(ErrorCode::kInternal, std::string("result is not valid JSON: ") + simdjson::error_message(error));
  }
  return Status::Ok();
}

}  // namespace pycage::protocol
