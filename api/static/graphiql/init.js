// GraphiQL on this API, served from the API itself (no CDN): the same page strawberry ships, without
// inline script, so the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var parameters = {};
  window.location.search.slice(1).split("&").forEach(function (entry) {
    var eq = entry.indexOf("=");
    if (eq >= 0) {
      parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
    }
  });

  function updateURL(data) {
    Object.assign(parameters, data);
    var search = "?" + Object.keys(parameters)
      .filter(function (key) { return Boolean(parameters[key]); })
      .map(function (key) { return encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]); })
      .join("&");
    history.replaceState(null, null, search);
  }

  var fetchURL = window.location.href.split("?")[0];
  var wsURL = new URL(fetchURL);
  wsURL.protocol = wsURL.protocol === "http:" ? "ws:" : "wss:";
  wsURL.hash = "";

  // Same origin: cookie sign-ins (cookie mode) need the preflight header the API asks of browsers.
  var fetcher = GraphiQL.createFetcher({
    url: fetchURL,
    headers: { "X-Requested-With": "graphiql" },
    subscriptionUrl: wsURL.toString(),
  });

  var EXAMPLE_QUERY = "# forexcrm GraphQL API\n#\n# Sign in with the `login` mutation, then put\n" +
    '#   {"Authorization": "Bearer <accessToken>"}\n# in the Headers tab below.\n\n{\n  apiVersion\n  serverTime\n}\n';

  function GraphiQLWithExplorer() {
    var query = React.useState(parameters.q || EXAMPLE_QUERY);
    var variables = React.useState(parameters.variables);
    var headers = React.useState(parameters.headers);
    var explorer = React.useMemo(function () { return GraphiQLPluginExplorer.explorerPlugin(); }, []);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query: query[0],
      variables: variables[0],
      headers: headers[0],
      onEditQuery: function (q) { query[1](q); updateURL({ q: q }); },
      onEditVariables: function (v) { variables[1](v); updateURL({ variables: v }); },
      onEditHeaders: function (h) { headers[1](h); },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQLWithExplorer));
})();
