// Validates a speedscope file against the JSON schema the `speedscope` npm package ships
// (dist/release/file-format-schema.json), with ajv. Exit 0 and "valid" or exit 1 and the errors.
//   node validate_speedscope.js PROFILE.speedscope.json
'use strict';
const fs = require('fs');
const Ajv = require('ajv');

const schema = JSON.parse(fs.readFileSync(
    require.resolve('speedscope/dist/release/file-format-schema.json'), 'utf8'));
const data = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
const validate = ajv.compile(schema);
if (validate(data)) {
  process.stdout.write('valid\n');
} else {
  process.stdout.write(JSON.stringify(validate.errors, null, 2) + '\n');
  process.exit(1);
}
