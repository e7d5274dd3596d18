"""Word splitting shared by the quality rules: fast, language-aware, close to spaCy's English tokenizer.

The Gopher/FineWeb rules were defined over spaCy tokens (datatrove's ``split_into_words``); spaCy is
what makes datatrove slow (about 0.4 MB/s per core). :func:`split_words` is one compiled regular
expression that reproduces the token boundaries that matter for the rules:

* punctuation is split off words, one character per token, except ``...`` runs (spaCy keeps those);
* hyphens between letters split a word (``well-known`` -> ``well``, ``-``, ``known``);
* English clitics are their own tokens (``don't`` -> ``do``, ``n't``; ``John's`` -> ``John``, ``'s``);
* numbers keep their inner ``.``/``,`` (``3.14``, ``1,000``), URLs and e-mail addresses stay whole;
* scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) count one token
  per character, so word counts and n-grams work for Chinese and Japanese.

``benchmarks/filters.py`` measures how often the rule decisions built on it agree with datatrove's.
"""
from __future__ import annotations

import re

# datatrove.utils.text.PUNCTUATION (the Gopher "symbol" characters) plus ASCII control characters.
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    chr(x) for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)
)

# Scripts without spaces between words: one token per character.
NO_SPACE_SCRIPTS = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0002fa1f"
)
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})

# spaCy's English tokenizer exceptions for contractions written without an apostrophe ("dont" ->
# "do", "nt"); their capitalised forms split the same way.
_CONTRACTIONS = (
    "aint=ai+nt arent=are+nt cannot=can+not cant=ca+nt cantve=ca+nt+ve couldnt=could+nt "
    "couldntve=could+nt+ve couldve=could+ve darent=dare+nt didnt=did+nt didntve=did+nt+ve doesnt=does+nt "
    "doesntve=does+nt+ve dont=do+nt dontve=do+nt+ve gonna=gon+na gotta=got+ta hadnt=had+nt "
    "hadntve=had+nt+ve hasnt=has+nt havent=have+nt hed=he+d hedve=he+d+ve hellve=he+ll+ve hes=he+s "
    "howd=how+d howdve=how+d+ve howll=how+ll howllve=how+ll+ve howre=how+re hows=how+s howve=how+ve "
    "id=i+d idve=i+d+ve illve=i+ll+ve im=i+m ima=i+m+a isnt=is+nt itd=it+d itdve=it+d+ve itll=it+ll "
    "itllve=it+ll+ve ive=i+ve maynt=may+nt mayntve=may+nt+ve mightnt=might+nt mightntve=might+nt+ve "
    "mightve=might+ve mustnt=must+nt mustntve=must+nt+ve mustve=must+ve neednt=need+nt "
    "needntve=need+nt+ve notve=not+ve oughtnt=ought+nt oughtntve=ought+nt+ve shant=sha+nt "
    "shantve=sha+nt+ve shedve=she+d+ve shellve=she+ll+ve shes=she+s shouldnt=should+nt "
    "shouldntve=should+nt+ve shouldve=should+ve thatd=that+d thatdve=that+d+ve thatll=that+ll "
    "thatllve=that+ll+ve thats=that+s thered=there+d theredve=there+d+ve therell=there+ll "
    "therellve=there+ll+ve therere=there+re theres=there+s thereve=there+ve thesed=these+d "
    "thesedve=these+d+ve thesell=these+ll thesellve=these+ll+ve thesere=these+re theseve=these+ve "
    "theyd=they+d theydve=they+d+ve theyll=they+ll theyllve=they+ll+ve theyre=they+re theyve=they+ve "
    "thisd=this+d thisdve=this+d+ve thisll=this+ll thisllve=this+ll+ve thiss=this+s thosed=those+d "
    "thosedve=those+d+ve thosell=those+ll thosellve=those+ll+ve thosere=those+re thoseve=those+ve "
    "wasnt=was+nt wed=we+d wedve=we+d+ve wellve=we+ll+ve werent=were+nt weve=we+ve whatd=what+d "
    "whatdve=what+d+ve whatll=what+ll whatllve=what+ll+ve whatre=what+re whats=what+s whatve=what+ve "
    "whend=when+d whendve=when+d+ve whenll=when+ll whenllve=when+ll+ve whenre=when+re whens=when+s "
    "whenve=when+ve whered=where+d wheredve=where+d+ve wherell=where+ll wherellve=where+ll+ve "
    "wherere=where+re wheres=where+s whereve=where+ve whod=who+d whodve=who+d+ve wholl=who+ll "
    "whollve=who+ll+ve whos=who+s whove=who+ve whyd=why+d whydve=why+d+ve whyll=why+ll whyllve=why+ll+ve "
    "whyre=why+re whys=why+s whyve=why+ve wont=wo+nt wontve=wo+nt+ve wouldnt=would+nt "
    "wouldntve=would+nt+ve wouldve=would+ve yall=y+all youd=you+d youdve=you+d+ve youll=you+ll "
    "youllve=you+ll+ve youre=you+re youve=you+ve "
)
# spaCy's English abbreviations that keep their final period (single letters are handled by a rule).
_ABBREVIATIONS = (
    "Adm. Ak. Ala. Apr. Ariz. Ark. Aug. Bros. Calif. Co. Colo. Conn. Corp. D.C. Dec. Del. Dr. E.G. E.g. "
    "Feb. Fla. Ga. Gen. Gov. I.E. I.e. Ia. Id. Ill. Inc. Ind. Jan. Jr. Jul. Jun. Kan. Kans. Ky. La. Ltd. "
    "Mar. Mass. Md. Messrs. Mich. Minn. Miss. Mo. Mont. Mr. Mrs. Ms. Mt. N.C. N.D. N.H. N.J. N.M. N.Y. "
    "Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. Ph.D. Prof. Rep. Rev. S.C. Sen. Sep. Sept. St. Tenn. Va. "
    "Wash. Wis. a.m. co. e.g. i.e. p.m. v.s. vs. "
)

_WORD = rf"(?:[^\W{NO_SPACE_SCRIPTS}]|[\u0300-\u036f\u00ad])"  # a word character of a spaced script
_ABBREV_ALT = "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS.split(), key=len, reverse=True))
_URL_EMAIL = r"""
      https?://[^\s<>"]+ | www\.[^\s<>"]+                      # URLs stay whole
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                             # e-mail addresses stay whole
    | """
_TOKEN_BODY = rf"""
      [{NO_SPACE_SCRIPTS}]                                     # one character of a script without spaces
    | (?<!\w)(?:{_ABBREV_ALT}|(?:[^\W\d_]\.)+)(?!\w)           # Dr., e.g., U.S., single letters with a period
    | {_WORD}+?(?=n['’]t\b)                                    # "do" of "don't"
    | n['’]t\b                                                 # "n't"
    | ['’](?:s|re|ve|ll|d|m|S|RE|VE|LL|D|M)\b                  # English clitics
    | (?:(?<!\S)/|@)? {_WORD}+                                 # a word, with the joiners spaCy keeps:
      (?: (?:\.(?![A-Z])|(?<=\d)[.,/](?=\d)|(?<=[^\W\d])-(?=\d)|(?<!\d)[+*]|[+*](?!\d)|::|['’](?!(?:s|re|ve|ll|d|m)\b)) {_WORD}+ )*
      (?:(?<=[A-Z])\.(?!\w)|-(?![\w-]))?                       # "USA." and "Vor-" keep their last character
    | \.\.\.+ | … | --+                                        # ellipses and dashes are one token
    | [^\w\s]                                                  # any other symbol, one per token
    """
_TOKEN = re.compile(_URL_EMAIL + _TOKEN_BODY, re.VERBOSE)
_TOKEN_PLAIN = re.compile(_TOKEN_BODY, re.VERBOSE)  # for text without '@', '://' or 'www.' (faster)
_SPLITS: dict[str, tuple[str, ...]] = {}
for _entry in _CONTRACTIONS.split():
    _word, _parts = _entry.split("=")
    _SPLITS[_word] = tuple(_parts.split("+"))
    _SPLITS[_word.capitalize()] = (_parts[0].upper() + _parts[1:]).split("+")


def split_words(text: str) -> list[str]:
    """The tokens of ``text`` (words and punctuation), for the Gopher, C4 and FineWeb rules."""
    pattern = _TOKEN if ("@" in text or "://" in text or "www." in text) else _TOKEN_PLAIN
    tokens = pattern.findall(text)
    if _SPLITS.keys().isdisjoint(tokens):
        return tokens
    splits = _SPLITS
    return [part for token in tokens for part in (splits.get(token) or (token,))]
