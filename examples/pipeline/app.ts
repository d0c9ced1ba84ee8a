// One classifier, composed two ways. Serve either:
//   npx threadserve run examples/pipeline/app.ts                    (separated, the default)
//   npx threadserve run examples/pipeline/app.ts --export grouped
// Grouped: each of Grouped's replicas runs a whole request on its own thread, no hop.
// Separated: Classify's replica calls Preprocess, Model and Postprocess over direct links
// between the threads (~28-41 µs of CPU per hop on a 2-vCPU VM; each replica thread ~11 MB).
// The README's "How calls travel, and grouped or separated" says when each is worth it.
import { Grouped } from './grouped.ts';
import { Model, Postprocess, Preprocess, Separated } from './separated.ts';

export const grouped = Grouped.bind();
export const separated = Separated.bind(Preprocess.bind(), Model.bind(), Postprocess.bind());
export default separated;
