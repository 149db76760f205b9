#!/usr/bin/env python3
"""Builds the real-text corpus for the Lucene comparison (issue 18).

Source: the CED dataset in github.com/thunlp/Chinese_Rumor_Dataset (commit
c1178d8cfd4c245c296889a51fc252b17c9037c5): Sina Weibo posts of 2010-2016,
the original microblogs of 3,387 reported events and the reposts/comments
under them. The repository states no licence: the data is used by path for
measurement and is NOT committed to netpulse.

  git --git-dir=<mirror> archive c1178d8 CED_Dataset | tar x -C SRC
  python3 prepare.py SRC/CED_Dataset > /work/corpus/posts.jsonl

Output: JSON lines {"id","title","body","source","published"}.
- body: the post's text as published, whitespace runs folded to one space.
- kept: bodies of at least MIN_RUNES characters with at least MIN_HAN Han
  characters (drops empty reposts and bare @-mention lists); exact duplicate
  bodies are kept once (reposts repeat "转发微博" and the like).
- title: derived, not in the source: the first sentence of the body (up to
  。！？!? or a line end), cut at TITLE_RUNES characters.
- source: which part of the dataset the post comes from (weibo-original,
  weibo-repost-rumor, weibo-repost-nonrumor); the dataset has no feed names.
- published: the post's own time (repost "date" or original "time"), read as
  China time (+08:00) since Weibo shows local time.
- order: by SHA-1 of the id, so that any prefix is an unbiased sample.
"""
import datetime
import glob
import hashlib
import json
import os
import re
import sys

MIN_RUNES = 20
MIN_HAN = 10
TITLE_RUNES = 30
CST = datetime.timezone(datetime.timedelta(hours=8))
HAN = re.compile(r'[\u3400-\u4dbf\u4e00-\u9fff]')
SENT_END = re.compile(r'[。！？!?\n]')


def title_of(body):
    m = SENT_END.search(body)
    first = body[:m.start()] if m else body
    first = first.strip() or body
    return first[:TITLE_RUNES]


def time_of(t):
    # Most originals carry a Unix time; some carry Weibo's API string
    # ("Sat Jun 29 12:40:09 +0800 2013").
    if isinstance(t, (int, float)) or str(t).isdigit():
        return datetime.datetime.fromtimestamp(int(t), CST)
    return datetime.datetime.strptime(t, '%a %b %d %H:%M:%S %z %Y')


def clean(text):
    return re.sub(r'\s+', ' ', text or '').strip()


def keep(body):
    return len(body) >= MIN_RUNES and len(HAN.findall(body)) >= MIN_HAN


def main(root):
    seen_body, seen_id, out = set(), set(), []
    no_year = [0]

    def add(pid, body, when, source):
        if pid in seen_id or body in seen_body or not keep(body):
            return
        seen_id.add(pid)
        seen_body.add(body)
        out.append({"id": pid, "title": title_of(body), "body": body,
                    "source": source, "published": when.isoformat()})

    for f in sorted(glob.glob(os.path.join(root, 'original-microblog', '*.json'))):
        with open(f, encoding='utf-8') as fh:
            r = json.load(fh)
        stem = os.path.basename(f)[:-len('.json')]
        when = time_of(r['time'])
        add('wo-' + stem, clean(r.get('text')), when, 'weibo-original')
    for part, source in (('rumor-repost', 'weibo-repost-rumor'),
                         ('non-rumor-repost', 'weibo-repost-nonrumor')):
        for f in sorted(glob.glob(os.path.join(root, part, '*.json'))):
            with open(f, encoding='utf-8') as fh:
                rows = json.load(fh)
            for r in rows:
                try:
                    when = datetime.datetime.strptime(r['date'], '%Y-%m-%d %H:%M:%S').replace(tzinfo=CST)
                except ValueError:
                    # Some reposts carry Weibo's display time without a
                    # year ("02月06日 17:45"): no real day, so not kept.
                    no_year[0] += 1
                    continue
                add('wr-' + r['mid'], clean(r.get('text')), when, source)
    out.sort(key=lambda p: hashlib.sha1(p['id'].encode()).hexdigest())
    w = sys.stdout
    for p in out:
        w.write(json.dumps(p, ensure_ascii=False) + '\n')
    print(f'{len(out)} posts; {no_year[0]} reposts dropped for a time without a year', file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv[1])
