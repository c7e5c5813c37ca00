#include "common/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace shardmax {

std::string FormatShortest(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

std::string QuoteJson(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          quoted += escaped;
        } else {
          quoted += c;  // UTF-8 bytes pass through: JSON text is UTF-8
        }
    }
  }
  return quoted + "\"";
}

void JsonWriter::NewLine() {
  text_ += '\n';
  text_.append(2 * frames_.size(), ' ');
}

void JsonWriter::BeginValue() {
  if (frames_.empty()) {
    if (!text_.empty()) throw std::logic_error("JsonWriter: a second top-level value");
    return;
  }
  Frame& frame = frames_.back();
  if (frame.is_object && !after_key_) throw std::logic_error("JsonWriter: a value without a key");
  after_key_ = false;
  if (frame.is_object) return;  // Key() placed the separator
  if (frame.items++ > 0) text_ += frame.is_one_line ? ", " : ",";
  if (!frame.is_one_line) NewLine();
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  if (frames_.empty() || !frames_.back().is_object || after_key_) {
    throw std::logic_error("JsonWriter: a key outside an object");
  }
  Frame& frame = frames_.back();
  if (frame.items++ > 0) text_ += frame.is_one_line ? ", " : ",";
  if (!frame.is_one_line) NewLine();
  text_ += QuoteJson(key);
  text_ += ": ";
  after_key_ = true;
  return *this;
}

void JsonWriter::Begin(char bracket, bool is_object, Layout layout) {
  BeginValue();
  // Inside a one-line container everything stays on that line.
  const bool is_one_line =
      layout == Layout::kOneLine || (!frames_.empty() && frames_.back().is_one_line);
  text_ += bracket;
  frames_.push_back(Frame{is_object, is_one_line, 0});
}

void JsonWriter::End(char bracket, bool is_object) {
  if (frames_.empty() || frames_.back().is_object != is_object || after_key_) {
    throw std::logic_error("JsonWriter: unbalanced end of a container");
  }
  const Frame frame = frames_.back();
  frames_.pop_back();
  if (frame.items > 0 && !frame.is_one_line) NewLine();
  text_ += bracket;
}

JsonWriter& JsonWriter::BeginObject(Layout layout) {
  Begin('{', true, layout);
  return *this;
}
JsonWriter& JsonWriter::EndObject() {
  End('}', true);
  return *this;
}
JsonWriter& JsonWriter::BeginArray(Layout layout) {
  Begin('[', false, layout);
  return *this;
}
JsonWriter& JsonWriter::EndArray() {
  End(']', false);
  return *this;
}

JsonWriter& JsonWriter::Value(std::string_view text) {
  BeginValue();
  text_ += QuoteJson(text);
  return *this;
}

JsonWriter& JsonWriter::Value(double number) {
  BeginValue();
  text_ += std::isfinite(number) ? FormatShortest(number) : "null";
  return *this;
}

JsonWriter& JsonWriter::WriteInteger(std::int64_t number) {
  BeginValue();
  text_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::Value(bool flag) {
  BeginValue();
  text_ += flag ? "true" : "false";
  return *this;
}

std::string JsonWriter::Finish() const {
  if (!frames_.empty() || text_.empty()) throw std::logic_error("JsonWriter: unfinished document");
  return text_ + "\n";
}

}  // namespace shardmax
