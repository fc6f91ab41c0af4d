#include "common/isolation_profile.h"

namespace pycage {
namespace {

constexpr IsolationProfile kProfiles[] = {PYCAGE_PROFILE_ROWS};

}  // namespace

const IsolationProfile& ProfileOf(Tier tier) {
  for (const IsolationProfile& profile : kProfiles) {
    if (profile.tier == tier) return profile;
  }
  return kProfiles[0];  // unreachable: every Tier has a profile
}

const IsolationProfile* ProfileNamed(std::string_view name) {
  for (const IsolationProfile& profile : kProfiles) {
    if (profile.name == name) return &profile;
  }
  return nullptr;
}

}  // namespace pycage
