package netpulse.lucene;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.cn.smart.SmartChineseAnalyzer;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.LongPoint;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.facet.FacetResult;
import org.apache.lucene.facet.Facets;
import org.apache.lucene.facet.FacetsCollector;
import org.apache.lucene.facet.FacetsCollectorManager;
import org.apache.lucene.facet.FacetsConfig;
import org.apache.lucene.facet.LabelAndValue;
import org.apache.lucene.facet.sortedset.DefaultSortedSetDocValuesReaderState;
import org.apache.lucene.facet.sortedset.SortedSetDocValuesFacetCounts;
import org.apache.lucene.facet.sortedset.SortedSetDocValuesFacetField;
import org.apache.lucene.facet.sortedset.SortedSetDocValuesReaderState;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.index.Term;
import org.apache.lucene.queryparser.classic.MultiFieldQueryParser;
import org.apache.lucene.queryparser.classic.QueryParser;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.uhighlight.UnifiedHighlighter;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;

/**
 * The Lucene peer of issue 18's side-by-side measurement. It indexes a corpus
 * of JSON lines {"id","title","body","source","published"} on ONE thread with
 * SmartChineseAnalyzer (title and body analysed and stored, source and day as
 * facets, published as a point for ranges), measures posts/s until searchable
 * (commit + reopen), process CPU seconds and the index size on disk, then runs
 * the query set the way netpulse serve answers it: every word required,
 * title boosted 2, every match counted, facets by source and day, highlighted
 * fragments for the top 10. Latencies and answers go to a JSON file for the
 * driver (deploy/lucene/compare).
 *
 * <p>Usage: Peer --corpus posts.jsonl --queries queries.json --index DIR --out
 * result.json [--reps N]
 */
public final class Peer {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int TOP = 10;

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      opt.put(args[i].replaceFirst("^--", ""), args[i + 1]);
    }
    for (String k : new String[] {"corpus", "queries", "index", "out"}) {
      if (!opt.containsKey(k)) {
        System.err.println("usage: Peer --corpus F --queries F --index DIR --out F [--reps N]");
        System.exit(2);
      }
    }
    int reps = Integer.parseInt(opt.getOrDefault("reps", "10"));
    Path indexDir = Path.of(opt.get("index"));
    deleteTree(indexDir);
    Files.createDirectories(indexDir);

    List<JsonNode> posts = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(Path.of(opt.get("corpus")), StandardCharsets.UTF_8)) {
      for (String line; (line = r.readLine()) != null; ) {
        if (!line.isBlank()) posts.add(JSON.readTree(line));
      }
    }
    ObjectNode out = JSON.createObjectNode();
    out.put("engine", "lucene " + org.apache.lucene.util.Version.LATEST + " smartcn, 1 indexing thread");
    out.put("java", Runtime.version().toString());
    out.put("posts", posts.size());

    Analyzer analyzer = new SmartChineseAnalyzer();
    FacetsConfig facets = new FacetsConfig();
    try (Directory dir = FSDirectory.open(indexDir)) {
      // Indexing: one thread, Lucene's default settings; searchable means
      // committed and a reader reopened on it.
      long cpu0 = cpuNanos();
      long t0 = System.nanoTime();
      IndexWriterConfig iwc = new IndexWriterConfig(analyzer);
      iwc.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
      DirectoryReader reader;
      try (IndexWriter w = new IndexWriter(dir, iwc)) {
        for (JsonNode p : posts) {
          OffsetDateTime published = OffsetDateTime.parse(p.get("published").asText());
          Document d = new Document();
          d.add(new StringField("id", p.get("id").asText(), Field.Store.YES));
          d.add(new TextField("title", p.path("title").asText(""), Field.Store.YES));
          d.add(new TextField("body", p.path("body").asText(""), Field.Store.YES));
          d.add(new StringField("source", p.get("source").asText(), Field.Store.NO));
          d.add(new LongPoint("published", published.toEpochSecond()));
          d.add(new SortedSetDocValuesFacetField("source", p.get("source").asText()));
          d.add(new SortedSetDocValuesFacetField("day", published.toLocalDate().toString()));
          w.addDocument(facets.build(d));
        }
        w.commit();
        reader = DirectoryReader.open(w);
      }
      long t1 = System.nanoTime();
      long cpu1 = cpuNanos();
      double secs = (t1 - t0) / 1e9;
      out.put("index_seconds", secs);
      out.put("posts_per_s", posts.size() / secs);
      out.put("cpu_seconds", (cpu1 - cpu0) / 1e9);
      out.put("index_bytes", treeBytes(indexDir));

      IndexSearcher searcher = new IndexSearcher(reader);
      SortedSetDocValuesReaderState state = new DefaultSortedSetDocValuesReaderState(reader, facets);
      UnifiedHighlighter hl = UnifiedHighlighter.builder(searcher, analyzer).build();
      JsonNode queries = JSON.readTree(Files.readAllBytes(Path.of(opt.get("queries"))));
      ArrayNode qs = out.putArray("queries");
      // Warm-up passes: serve runs compiled code from the start, the JVM
      // has to compile first.
      for (int i = 0; i < reps; i++) {
        for (JsonNode q : queries) {
          answer(searcher, state, hl, analyzer, q);
        }
      }
      for (JsonNode q : queries) {
        ObjectNode res = answer(searcher, state, hl, analyzer, q);
        ArrayNode lat = res.putArray("lat_ms");
        for (int i = 0; i < reps; i++) {
          long s = System.nanoTime();
          answer(searcher, state, hl, analyzer, q);
          lat.add((System.nanoTime() - s) / 1e6);
        }
        // Every match, for recall (not timed).
        Query lq = build(analyzer, q);
        TopDocs all = searcher.search(lq, Math.max(1, reader.maxDoc()));
        StoredFields sf = searcher.storedFields();
        ArrayNode ids = res.putArray("matches");
        for (ScoreDoc sd : all.scoreDocs) {
          ids.add(sf.document(sd.doc).get("id"));
        }
        qs.add(res);
      }
      reader.close();
    }
    Files.writeString(Path.of(opt.get("out")), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out));
  }

  /** One answer as serve gives it: total, top 10 with fragments, facets. */
  private static ObjectNode answer(IndexSearcher searcher, SortedSetDocValuesReaderState state,
      UnifiedHighlighter hl, Analyzer analyzer, JsonNode q) throws Exception {
    Query lq = build(analyzer, q);
    FacetsCollectorManager.FacetsResult fr =
        FacetsCollectorManager.search(searcher, lq, TOP, new FacetsCollectorManager());
    TopDocs top = fr.topDocs();
    FacetsCollector fc = fr.facetsCollector();
    long total = 0;
    for (FacetsCollector.MatchingDocs md : fc.getMatchingDocs()) {
      total += md.totalHits();
    }
    Facets counts = new SortedSetDocValuesFacetCounts(state, fc);
    ObjectNode res = JSON.createObjectNode();
    res.put("q", q.get("q").asText());
    res.put("class", q.get("class").asText());
    res.put("total", total);
    ObjectNode fo = res.putObject("facets");
    for (String dim : new String[] {"source", "day"}) {
      ObjectNode d = fo.putObject(dim);
      if (total == 0) continue;
      FacetResult r = counts.getAllChildren(dim);
      if (r == null) continue;
      for (LabelAndValue lv : r.labelValues) d.put(lv.label, lv.value.longValue());
    }
    Map<String, String[]> frags = hl.highlightFields(new String[] {"title", "body"}, lq, top, new int[] {1, 2});
    StoredFields sf = searcher.storedFields();
    ArrayNode hits = res.putArray("hits");
    for (int i = 0; i < top.scoreDocs.length; i++) {
      Document d = sf.document(top.scoreDocs[i].doc);
      ObjectNode h = hits.addObject();
      h.put("id", d.get("id"));
      h.put("title", d.get("title"));
      ArrayNode fa = h.putArray("fragments");
      for (String f : new String[] {"title", "body"}) {
        String s = frags.get(f)[i];
        if (s != null) fa.add(s);
      }
    }
    return res;
  }

  /**
   * netpulse's query semantics: the words of q (quoted parts are phrases) all
   * required, each in title (boost 2) or body; "source" and "from"/"to"
   * restrict without scoring.
   */
  private static Query build(Analyzer analyzer, JsonNode q) throws Exception {
    MultiFieldQueryParser p =
        new MultiFieldQueryParser(new String[] {"title", "body"}, analyzer, Map.of("title", 2f, "body", 1f));
    p.setDefaultOperator(QueryParser.Operator.AND);
    Query text = p.parse(q.get("q").asText());
    BooleanQuery.Builder b = new BooleanQuery.Builder().add(text, BooleanClause.Occur.MUST);
    if (q.hasNonNull("source")) {
      b.add(new TermQuery(new Term("source", q.get("source").asText())), BooleanClause.Occur.FILTER);
    }
    if (q.hasNonNull("from") || q.hasNonNull("to")) {
      long from = q.hasNonNull("from") ? OffsetDateTime.parse(q.get("from").asText()).toEpochSecond() : Long.MIN_VALUE;
      long to = q.hasNonNull("to") ? OffsetDateTime.parse(q.get("to").asText()).toEpochSecond() : Long.MAX_VALUE;
      b.add(LongPoint.newRangeQuery("published", from, to), BooleanClause.Occur.FILTER);
    }
    return b.build();
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static long treeBytes(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(f);
    }
  }

  private Peer() {}
}
