#include "usage_keys.h"

#include <array>
#include <cstring>

#include "keys.h"

namespace agentlog::internal {
namespace {

void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint32_t DecodeU32(std::string_view bytes) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

constexpr size_t kTotalsHeaderBytes = 6;
constexpr uint8_t kMaxScope = static_cast<uint8_t>(UsageScope::kOperation);
constexpr uint8_t kMaxPeriod = static_cast<uint8_t>(UsagePeriod::kMonth);

}  // namespace

std::string EncodeTotalsKey(const TotalsKey& key) {
  std::string out = TotalsPrefix(key.scope, key.period);
  out.reserve(kTotalsHeaderBytes + key.name.size());
  AppendU32(&out, key.index);
  out.append(key.name);
  return out;
}

std::string TotalsPrefix(UsageScope scope, UsagePeriod period) {
  return {static_cast<char>(scope), static_cast<char>(period)};
}

std::optional<TotalsKey> ParseTotalsKey(std::string_view key) {
  if (key.size() < kTotalsHeaderBytes ||
      static_cast<uint8_t>(key[0]) > kMaxScope ||
      static_cast<uint8_t>(key[1]) > kMaxPeriod) {
    return std::nullopt;
  }
  return TotalsKey{.scope = static_cast<UsageScope>(key[0]),
                   .period = static_cast<UsagePeriod>(key[1]),
                   .index = DecodeU32(key.substr(2)),
                   .name = key.substr(kTotalsHeaderBytes)};
}

std::string TotalsMarkKey(const SessionId& session) {
  std::string out(1, kTotalsMarkByte);
  out.append(SessionKey(session));
  return out;
}

std::optional<SessionId> ParseTotalsMarkKey(std::string_view key) {
  if (key.empty() || key[0] != kTotalsMarkByte) return std::nullopt;
  return ParseSessionKey(key.substr(1));
}

std::string EncodeTotalsMark(uint64_t through_seq) {
  std::string out;
  AppendU64(&out, through_seq);
  return out;
}

std::optional<uint64_t> DecodeTotalsMark(std::string_view value) {
  if (value.size() != 8) return std::nullopt;
  return DecodeU64(value);
}

std::string BudgetKey(UsageScope scope, UsagePeriod period,
                      std::string_view name) {
  std::string out(kBudgetKeyPrefix);
  out.push_back(static_cast<char>(scope));
  out.push_back(static_cast<char>(period));
  out.append(name);
  return out;
}

std::string AlertKey(UsageScope scope, UsagePeriod period, uint32_t index,
                     BudgetThreshold threshold, uint64_t generation,
                     std::string_view name) {
  std::string out = TotalsPrefix(scope, period);
  AppendU32(&out, index);
  out.push_back(static_cast<char>(threshold));
  AppendU64(&out, generation);
  out.append(name);
  return out;
}

std::string PriceKey(std::string_view model, uint32_t version) {
  std::string out(kPriceKeyPrefix);
  AppendU32(&out, static_cast<uint32_t>(model.size()));
  out.append(model);
  AppendU32(&out, version);
  return out;
}

std::string EncodeUsageRef(const SessionId& session, uint64_t seq) {
  std::string out(reinterpret_cast<const char*>(session.bytes().data()),
                  SessionId::kBytes);
  AppendU64(&out, seq);
  return out;
}

std::optional<UsageRef> DecodeUsageRef(std::string_view value) {
  if (value.size() != SessionId::kBytes + 8) return std::nullopt;
  std::array<uint8_t, SessionId::kBytes> raw;
  std::memcpy(raw.data(), value.data(), raw.size());
  return UsageRef{SessionId::FromBytes(raw),
                  DecodeU64(value.substr(SessionId::kBytes))};
}

}  // namespace agentlog::internal
