// Validates Kubernetes objects offline against the JSON schemas kubernetes-models bundles.
// Reads a JSON array of objects (the documents of deploy/*.yaml) on stdin; prints one line per
// object and exits 1 when any is invalid or of an unknown kind (tests/integration/test_deploy.py).
import { readFileSync } from 'node:fs';

const documents = JSON.parse(readFileSync(0, 'utf8'));
let failures = 0;
for (const document of documents) {
  const { apiVersion, kind } = document;
  const name = `${kind}/${document.metadata?.name}`;
  try {
    // "v1" → kubernetes-models/v1, "apps/v1" → kubernetes-models/apps/v1.
    const models = await import(`kubernetes-models/${apiVersion}`);
    const Model = models[kind];
    if (typeof Model !== 'function') throw new Error(`no model for ${apiVersion} ${kind}`);
    new Model(document).validate();
    console.log(`valid ${name}`);
  } catch (error) {
    failures++;
    console.log(`INVALID ${name}: ${error.message}`);
  }
}
process.exit(failures === 0 ? 0 : 1);
