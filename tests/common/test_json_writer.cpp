// The JSON emitter: layout, escaping, and reals that read back to the same double.
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "common/json_writer.hpp"

namespace shardmax {
namespace {

TEST(JsonWriter, WritesNestedContainersIndentedAndOneLineWhereAsked) {
  JsonWriter json;
  json.BeginObject();
  json.Key("name").Value("evaluate");
  json.Key("rows").Value(3);
  json.Key("ok").Value(true);
  json.Key("row").BeginArray(JsonWriter::Layout::kOneLine).Value(1).Value(2).EndArray();
  json.Key("empty").BeginArray().EndArray();
  json.Key("table").BeginArray();
  json.BeginObject(JsonWriter::Layout::kOneLine).Key("a").Value(0.5).EndObject();
  json.EndArray();
  json.EndObject();
  EXPECT_EQ(json.Finish(),
            "{\n"
            "  \"name\": \"evaluate\",\n"
            "  \"rows\": 3,\n"
            "  \"ok\": true,\n"
            "  \"row\": [1, 2],\n"
            "  \"empty\": [],\n"
            "  \"table\": [\n"
            "    {\"a\": 0.5}\n"
            "  ]\n"
            "}\n");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(QuoteJson("a\"b\\c\nd\te\x01 T-shirt/top \xC3\xA9"),
            "\"a\\\"b\\\\c\\nd\\te\\u0001 T-shirt/top \xC3\xA9\"");
}

TEST(JsonWriter, RealsRoundTripAndNonFiniteBecomesNull) {
  for (const double value : {0.1, 1.0 / 3.0, 1e-300, 123456789.125, -2.5e17, 0.8771228771228772}) {
    const std::string text = FormatShortest(value);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), value) << text;
  }
  EXPECT_EQ(FormatShortest(0.1), "0.1");
  JsonWriter json;
  json.BeginArray(JsonWriter::Layout::kOneLine)
      .Value(std::numeric_limits<double>::infinity())
      .Value(std::numeric_limits<double>::quiet_NaN())
      .EndArray();
  EXPECT_EQ(json.Finish(), "[null, null]\n");
}

TEST(JsonWriter, RefusesMisuse) {
  JsonWriter value_without_key;
  value_without_key.BeginObject();
  EXPECT_THROW(value_without_key.Value(1), std::logic_error);
  JsonWriter unfinished;
  unfinished.BeginArray();
  EXPECT_THROW(unfinished.Finish(), std::logic_error);
}

}  // namespace
}  // namespace shardmax
