/**
 * Country ids for the forecast example: the 249 officially assigned ISO 3166-1 alpha-2 codes
 * (as of the 2024 list), alphabetical. Benchmarks that want more models than that get
 * synthetic ids after them: XA001 .. XA999, XB001 ..  ("X?" codes are user-assigned in
 * ISO 3166, and five characters never collide with a real code).
 */
export const ISO_COUNTRY_CODES: readonly string[] = Object.freeze(
  `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
   BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
   CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
   DE DJ DK DM DO DZ
   EC EE EG EH ER ES ET
   FI FJ FK FM FO FR
   GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
   HK HM HN HR HT HU
   ID IE IL IM IN IO IQ IR IS IT
   JE JM JO JP
   KE KG KH KI KM KN KP KR KW KY KZ
   LA LB LC LI LK LR LS LT LU LV LY
   MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
   NA NC NE NF NG NI NL NO NP NR NU NZ
   OM
   PA PE PF PG PH PK PL PM PN PR PS PT PW PY
   QA
   RE RO RS RU RW
   SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
   TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
   UA UG UM US UY UZ
   VA VC VE VG VI VN VU
   WF WS
   YE YT
   ZA ZM ZW`
    .trim()
    .split(/\s+/),
);

const SYNTHETIC_PER_LETTER = 999;
/** Most ids countryIds can give: the real codes plus XA001 .. XZ999. */
export const MAX_COUNTRY_IDS = ISO_COUNTRY_CODES.length + 26 * SYNTHETIC_PER_LETTER;

/** The k-th synthetic id (0-based): XA001 .. XA999, XB001 .. */
export function syntheticCountryId(k: number): string {
  if (!Number.isInteger(k) || k < 0 || k >= 26 * SYNTHETIC_PER_LETTER) throw new RangeError(`no synthetic country id #${k}`);
  const letter = String.fromCharCode(65 + Math.floor(k / SYNTHETIC_PER_LETTER));
  return `X${letter}${String((k % SYNTHETIC_PER_LETTER) + 1).padStart(3, '0')}`;
}

/** n distinct ids: the real ISO codes first (alphabetical), then synthetic ones. */
export function countryIds(n: number): string[] {
  if (!Number.isInteger(n) || n < 0 || n > MAX_COUNTRY_IDS) throw new RangeError(`n must be an integer 0..${MAX_COUNTRY_IDS}, got ${n}`);
  const ids = ISO_COUNTRY_CODES.slice(0, n);
  for (let k = 0; ids.length < n; k++) ids.push(syntheticCountryId(k));
  return ids;
}
