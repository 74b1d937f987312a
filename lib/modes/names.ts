/**
 * What a chat name may be: visible letters and digits of one script, so that no name is blank on screen or
 * passes for someone else's, and the key under which two names count as the same one.
 *
 * @module
 */
import { escapeChar, escapeText } from "../core/format.ts";

/** The longest name, in characters. */
export const MAX_NAME = 32;

const ALLOWED = new RegExp(`^[\\p{L}\\p{N}_.-]{1,${MAX_NAME}}$`, "u");
const ALLOWED_RULE = `use 1 to ${MAX_NAME} letters, digits, '_', '-' or '.'`;

/**
 * Characters that show nothing, or change how their neighbours show: default-ignorable code points (Hangul
 * fillers U+115F, U+1160, U+3164, U+FFA0, zero-width and bidi characters U+200B–U+200F, U+202A–U+202E,
 * U+2060–U+206F, the BOM U+FEFF, variation selectors U+180B–U+180F, U+FE00–U+FE0F, tags U+E0000–U+E0FFF, soft
 * hyphen U+00AD, U+034F, U+17B4, U+17B5), and every format and control character.
 */
const INVISIBLE = new RegExp(
  "[\\p{Default_Ignorable_Code_Point}\\p{Cf}\\p{Cc}" +
    "\\u00ad\\u034f\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u2060-\\u206f\\u3164" +
    "\\ufe00-\\ufe0f\\ufeff\\uffa0\\u{e0000}-\\u{e0fff}]",
  "u",
);
const INVISIBLE_ALL = new RegExp(INVISIBLE.source, "gu");

/** Characters that belong to no one script (digits, `_`, `-`, `.`, combining marks): fine with any script. */
const ANY_SCRIPT = /[\p{Script=Common}\p{Script=Inherited}]/u;

/** Every Unicode script (16.0) but Common and Inherited, by the name people know it by. */
const SCRIPT_NAMES = [
  "Adlam",
  "Ahom",
  "Anatolian_Hieroglyphs",
  "Arabic",
  "Armenian",
  "Avestan",
  "Balinese",
  "Bamum",
  "Bassa_Vah",
  "Batak",
  "Bengali",
  "Bhaiksuki",
  "Bopomofo",
  "Brahmi",
  "Braille",
  "Buginese",
  "Buhid",
  "Canadian_Aboriginal",
  "Carian",
  "Caucasian_Albanian",
  "Chakma",
  "Cham",
  "Cherokee",
  "Chorasmian",
  "Coptic",
  "Cuneiform",
  "Cypriot",
  "Cypro_Minoan",
  "Cyrillic",
  "Deseret",
  "Devanagari",
  "Dives_Akuru",
  "Dogra",
  "Duployan",
  "Egyptian_Hieroglyphs",
  "Elbasan",
  "Elymaic",
  "Ethiopic",
  "Garay",
  "Georgian",
  "Glagolitic",
  "Gothic",
  "Grantha",
  "Greek",
  "Gujarati",
  "Gunjala_Gondi",
  "Gurmukhi",
  "Gurung_Khema",
  "Han",
  "Hangul",
  "Hanifi_Rohingya",
  "Hanunoo",
  "Hatran",
  "Hebrew",
  "Hiragana",
  "Imperial_Aramaic",
  "Inscriptional_Pahlavi",
  "Inscriptional_Parthian",
  "Javanese",
  "Kaithi",
  "Kannada",
  "Katakana",
  "Kawi",
  "Kayah_Li",
  "Kharoshthi",
  "Khitan_Small_Script",
  "Khmer",
  "Khojki",
  "Khudawadi",
  "Kirat_Rai",
  "Lao",
  "Latin",
  "Lepcha",
  "Limbu",
  "Linear_A",
  "Linear_B",
  "Lisu",
  "Lycian",
  "Lydian",
  "Mahajani",
  "Makasar",
  "Malayalam",
  "Mandaic",
  "Manichaean",
  "Marchen",
  "Masaram_Gondi",
  "Medefaidrin",
  "Meetei_Mayek",
  "Mende_Kikakui",
  "Meroitic_Cursive",
  "Meroitic_Hieroglyphs",
  "Miao",
  "Modi",
  "Mongolian",
  "Mro",
  "Multani",
  "Myanmar",
  "Nabataean",
  "Nag_Mundari",
  "Nandinagari",
  "New_Tai_Lue",
  "Newa",
  "Nko",
  "Nushu",
  "Nyiakeng_Puachue_Hmong",
  "Ogham",
  "Ol_Chiki",
  "Ol_Onal",
  "Old_Hungarian",
  "Old_Italic",
  "Old_North_Arabian",
  "Old_Permic",
  "Old_Persian",
  "Old_Sogdian",
  "Old_South_Arabian",
  "Old_Turkic",
  "Old_Uyghur",
  "Oriya",
  "Osage",
  "Osmanya",
  "Pahawh_Hmong",
  "Palmyrene",
  "Pau_Cin_Hau",
  "Phags_Pa",
  "Phoenician",
  "Psalter_Pahlavi",
  "Rejang",
  "Runic",
  "Samaritan",
  "Saurashtra",
  "Sharada",
  "Shavian",
  "Siddham",
  "SignWriting",
  "Sinhala",
  "Sogdian",
  "Sora_Sompeng",
  "Soyombo",
  "Sundanese",
  "Sunuwar",
  "Syloti_Nagri",
  "Syriac",
  "Tagalog",
  "Tagbanwa",
  "Tai_Le",
  "Tai_Tham",
  "Tai_Viet",
  "Takri",
  "Tamil",
  "Tangsa",
  "Tangut",
  "Telugu",
  "Thaana",
  "Thai",
  "Tibetan",
  "Tifinagh",
  "Tirhuta",
  "Todhri",
  "Toto",
  "Tulu_Tigalari",
  "Ugaritic",
  "Vai",
  "Vithkuqi",
  "Wancho",
  "Warang_Citi",
  "Yezidi",
  "Yi",
  "Zanabazar_Square",
];

/**
 * Scripts that are written together (Unicode's "highly restrictive" profile, UTS #39): Japanese mixes Han
 * with both kana, Korean Han with Hangul, Chinese Han with Bopomofo.
 */
const WRITTEN_TOGETHER = [
  new Set(["Han", "Hiragana", "Katakana"]),
  new Set(["Han", "Hangul"]),
  new Set(["Han", "Bopomofo"]),
];

let scripts: { name: string; re: RegExp }[] | undefined;

/** The script a character belongs to (`Latin`, `Cyrillic`, …), or `Unknown`. */
function scriptOf(char: string): string {
  scripts ??= SCRIPT_NAMES.flatMap((name) => {
    try {
      return [{ name, re: new RegExp(`\\p{Script=${name}}`, "u") }];
    } catch {
      return []; // a script newer than this runtime's Unicode data
    }
  });
  return scripts.find((s) => s.re.test(char))?.name ?? "Unknown";
}

/** The scripts the letters of `name` are written in (not counting Common and Inherited), in order of use. */
export function scriptsOf(name: string): string[] {
  const found = new Set<string>();
  for (const char of name) if (!ANY_SCRIPT.test(char)) found.add(scriptOf(char));
  return [...found];
}

/**
 * Why `name` cannot be a chat name, as the end of a one-line notice (`is not a name: …`), or undefined when
 * it can be one. The name is quoted with whatever is invisible in it escaped.
 *
 * @example
 * ```ts
 * nameProblem("alice"); // undefined
 * nameProblem("\u0430lice"); // "'аlice' is not a name: it mixes scripts (Cyrillic and Latin); use letters of one script"
 * ```
 */
export function nameProblem(name: string): string | undefined {
  const shown = `'${showName(name)}'`;
  const hidden = name.match(INVISIBLE);
  if (hidden) {
    const char = hidden[0];
    const code = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    const what = /\p{Cc}/u.test(char) ? "a control character" : "an invisible character";
    return `${shown} is not a name: ${code} is ${what}; use visible letters, digits, '_', '-' or '.'`;
  }
  if (!ALLOWED.test(name)) return `${shown} is not a name: ${ALLOWED_RULE}`;
  const used = scriptsOf(name);
  if (used.length > 1 && !WRITTEN_TOGETHER.some((set) => used.every((s) => set.has(s)))) {
    const list = [...used].sort();
    const names = list.length === 2 ? list.join(" and ") : list.join(", ");
    return `${shown} is not a name: it mixes scripts (${names}); use letters of one script`;
  }
  return undefined;
}

/** A name as it may be quoted back: controls and invisible characters as escapes (`\u3164`). */
export function showName(name: string): string {
  return escapeText(name).replace(INVISIBLE_ALL, escapeChar);
}

/**
 * The key under which names are the same name: compatibility-normalized (NFKC, so fullwidth `ａｌｉｃｅ` is
 * `alice`) and case-folded (`Alice`, `ALICE`; `ß` as `ss`).
 */
export function nameKey(name: string): string {
  return name.normalize("NFKC").toUpperCase().toLowerCase();
}
