// A small JSON emitter (no dependency): objects and arrays written in order, indented by two
// spaces, with arrays and objects marked "one line" kept on a single line (rows of a matrix,
// entries of a table). Reals are written with the fewest digits that read back to the same
// double; a non-finite real, which JSON cannot hold, is written as null.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardmax {

// The shortest decimal text that parses back to exactly `value` ("0.1", "1e-300", "3").
std::string FormatShortest(double value);

class JsonWriter {
 public:
  enum class Layout { kIndented, kOneLine };

  JsonWriter& BeginObject(Layout layout = Layout::kIndented);
  JsonWriter& EndObject();
  JsonWriter& BeginArray(Layout layout = Layout::kIndented);
  JsonWriter& EndArray();
  // Inside an object, every value is preceded by its key.
  JsonWriter& Key(std::string_view key);
  JsonWriter& Value(std::string_view text);
  JsonWriter& Value(const char* text) { return Value(std::string_view(text)); }
  JsonWriter& Value(double number);
  JsonWriter& Value(bool flag);
  // Any integer type, so that Value(3) is not ambiguous between double, int64 and bool.
  template <std::integral Integer>
    requires(!std::same_as<Integer, bool>)
  JsonWriter& Value(Integer number) {
    return WriteInteger(static_cast<std::int64_t>(number));
  }

  // The document, with a final newline; throws std::logic_error if a container is still open.
  std::string Finish() const;

 private:
  struct Frame {
    bool is_object = false;
    bool is_one_line = false;
    int items = 0;
  };
  void BeginValue();
  void Begin(char bracket, bool is_object, Layout layout);
  void End(char bracket, bool is_object);
  void NewLine();
  JsonWriter& WriteInteger(std::int64_t number);

  std::string text_;
  std::vector<Frame> frames_;
  bool after_key_ = false;
};

// `text` as a JSON string literal, quotes included.
std::string QuoteJson(std::string_view text);

}  // namespace shardmax
