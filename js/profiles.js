'use strict';

// The isolation tiers as values (native/runner/profiles.json, which the C++
// build and the runner read too). Code asks a property of a tier's profile,
// never compares its name: a new tier is a new row plus the steps its
// properties turn on.

const TABLE = require('../native/runner/profiles.json');

const PROFILES = Object.freeze(Object.fromEntries(
  TABLE.profiles.map((profile) => [profile.name, Object.freeze({ ...profile })])));
const PROPERTIES = Object.freeze(Object.keys(TABLE.properties));

function profileOf(tier) {
  const profile = PROFILES[tier];
  if (profile === undefined) throw new Error(`pycage: no isolation profile named '${tier}'`);
  return profile;
}

module.exports = { PROFILES, PROPERTIES, profileOf };
