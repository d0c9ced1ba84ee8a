// One classifier, composed two ways. Serve either:
//   npx threadserve run examples/pipeline/app.ts                    (separated, the default)
//   npx threadserve run examples/pipeline/app.ts --export grouped
import { Grouped } from './grouped.ts';
import { Model, Postprocess, Preprocess, Separated } from './separated.ts';

export const grouped = Grouped.bind();
export const separated = Separated.bind(Preprocess.bind(), Model.bind(), Postprocess.bind());
export default separated;
