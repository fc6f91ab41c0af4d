'use strict';

const { Sandbox } = require('./sandbox');
const { PycageError } = require('./errors');

module.exports = { Sandbox, PycageError };
