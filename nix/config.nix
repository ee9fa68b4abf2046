# The bridge between the module options and genpush's YAML: what is written to
# config.yaml, which settings the Nix modules refuse (as full sentences), and
# the build-time `genpush config check`.
#
# genpush fills every default itself (see src/config/config.ts), so only what the
# user set is written. Plain builtins only, so that `nix-instantiate --eval`
# can run it without nixpkgs (see test/nix/config.test.ts); the modules turn
# `problems` into assertions.
let
  inherit (builtins)
    attrNames
    attrValues
    concatLists
    concatStringsSep
    elem
    filter
    head
    isString
    listToAttrs
    map
    match
    replaceStrings
    substring
    ;

  # Per type: the keys a cache takes (mirrors CACHE_KEYS in src/config/config.ts)
  # and those it requires, with what each is.
  cacheKeys = {
    nix = [
      "store"
      "signingKeyFile"
      "queryConcurrency"
      "fleet"
    ];
    attic = [
      "endpoint"
      "cache"
      "tokenFile"
      "atticPath"
    ];
    cachix = [
      "cache"
      "tokenFile"
      "signingKeyFile"
      "endpoint"
      "cachixPath"
    ];
  };
  required = {
    nix = {
      store = "a store URI such as \"http://cache.lan:8080\"";
    };
    attic = {
      endpoint = "the Attic server, such as \"https://attic.lan\"";
      cache = "the cache's name on the Attic server";
      tokenFile = "a file holding an Attic token that may push";
    };
    cachix = {
      cache = "the Cachix cache's name";
      tokenFile = "a file holding a Cachix auth token";
    };
  };
  allTypeKeys = [
    "store"
    "signingKeyFile"
    "queryConcurrency"
    "fleet"
    "endpoint"
    "cache"
    "tokenFile"
    "atticPath"
    "cachixPath"
  ];
  secretKeys = [
    "tokenFile"
    "signingKeyFile"
  ];

  compact = attrs: removeNulls (attrNames attrs) attrs;
  removeNulls =
    names: attrs:
    listToAttrs (
      map (n: {
        name = n;
        value = attrs.${n};
      }) (filter (n: attrs.${n} != null) names)
    );

  quote = s: "'" + replaceStrings [ "'" ] [ "'\\''" ] s + "'";

  # "$CREDENTIALS_DIRECTORY/x" or "${CREDENTIALS_DIRECTORY}/x" -> "x"
  credentialOf =
    value:
    let
      m = match "\\$\\{?CREDENTIALS_DIRECTORY}?/([^/]+)" value;
    in
    if m == null then null else head m;
in
rec {
  inherit cacheKeys secretKeys credentialOf;

  # The YAML document: every value the user left unset (null, [] for exclude,
  # {} for profiles) is left out, so genpush's own default applies.
  render =
    settings:
    let
      profile = p: compact { inherit (p) name path system; };
      cache =
        c:
        compact (
          {
            inherit (c) name type systems;
            timeoutSeconds = c.timeoutSeconds or null;
            hosts = if (c.hosts or [ ]) == [ ] then null else c.hosts;
            systemFeatures = if (c.systemFeatures or [ ]) == [ ] then null else c.systemFeatures;
          }
          // listToAttrs (
            map (k: {
              name = k;
              value = c.${k} or null;
            }) cacheKeys.${c.type}
          )
        );
    in
    compact {
      stateDir = settings.stateDir or null;
      profiles = if (settings.profiles or { }) == { } then null else map profile (attrValues settings.profiles);
      caches = map cache (attrValues (settings.caches or { }));
      upstreamKeys = settings.upstreamKeys or null;
      exclude = if (settings.exclude or [ ]) == [ ] then null else settings.exclude;
      notify = settings.notify or null;
      meteredLimit = settings.meteredLimit or null;
      metricsFile = settings.metricsFile or null;
    };

  # Every setting the module refuses, each a full sentence naming the option.
  #   option:    "services.genpush"
  #   watchers:  { "<profile name>" = { option = "watchSystem"; unit = "genpush-system.service"; }; }
  #              for each watcher that is on (its service pushes that profile by name)
  #   defaultProfiles: whether an empty `profiles` means genpush's own default,
  #              which holds every watched profile
  problems =
    {
      option ? "services.genpush",
      settings,
      credentials ? { },
      watchers ? { },
      defaultProfiles ? false,
    }:
    let
      at = "${option}.settings";
      caches = settings.caches or { };
      profiles = settings.profiles or { };
      profileNames = map (p: p.name) (attrValues profiles);

      noCache = if caches == { } then [
        (
          "${at}.caches is empty: genpush needs at least one binary cache to push to, for example "
          + "${at}.caches.lan = { type = \"nix\"; store = \"http://cache.lan:8080\"; };"
        )
      ] else [ ];

      cacheProblems =
        attr: c:
        let
          here = "${at}.caches.${attr}";
          req = required.${c.type};
          missing = filter (k: (c.${k} or null) == null) (attrNames req);
          foreign = filter (k: !(elem k cacheKeys.${c.type}) && (c.${k} or null) != null) allTypeKeys;
          secrets = filter (k: elem k cacheKeys.${c.type} && isString (c.${k} or null)) secretKeys;
          secretProblems =
            k:
            let
              value = c.${k};
              credential = credentialOf value;
            in
            if substring 0 11 value == "/nix/store/" then
              [
                (
                  "${here}.${k} is in the Nix store, where every user can read it; give the path of a file "
                  + "outside the store (agenix, sops-nix) instead."
                )
              ]
            else if credential != null && !(credentials ? ${credential}) then
              [
                (
                  "${here}.${k} refers to $CREDENTIALS_DIRECTORY/${credential}, but ${option}.credentials has "
                  + "no `${credential}`; add ${option}.credentials.${credential} = \"/run/secrets/...\";"
                )
              ]
            else if match "[/~$].*" value == null then
              [
                (
                  "${here}.${k} is `${value}`, but a secret must be an absolute path to a file, or "
                  + "$CREDENTIALS_DIRECTORY/<name> with ${option}.credentials.<name> set."
                )
              ]
            else
              [ ];
        in
        map (
          k: "${here} has type `${c.type}`, so it needs `${k}` (${req.${k}}), which is not set."
        ) missing
        ++ map (
          k:
          "${here} sets `${k}`, which a cache of type `${c.type}` does not take; it takes "
          + concatStringsSep ", " cacheKeys.${c.type}
          + "."
        ) foreign
        ++ (
          if c.systems == [ ] then
            [ "${here}.systems is empty: list the Nix systems this cache serves, such as [ \"x86_64-linux\" ]." ]
          else
            [ ]
        )
        ++ concatLists (map secretProblems secrets);

      watcherProblems = concatLists (
        map (
          name:
          let
            w = watchers.${name};
          in
          if (profiles == { } && defaultProfiles) || elem name profileNames then
            [ ]
          else
            [
              (
                "${option}.${w.option} is on, so ${w.unit} runs `genpush push --profile ${name}`, but "
                + "${at}.profiles has no profile named `${name}`; add one, or set ${option}.${w.option} = false."
              )
            ]
        ) (attrNames watchers)
      );

      credentialProblems = concatLists (
        map (
          name:
          (
            if match "[A-Za-z0-9._-]+" name == null then
              [ "${option}.credentials.${name}: a credential's name may hold only letters, digits, `.`, `_` and `-`." ]
            else
              [ ]
          )
          ++ (
            if match "/.*" credentials.${name} == null then
              [
                "${option}.credentials.${name} is `${credentials.${name}}`, but LoadCredential= needs an absolute path."
              ]
            else
              [ ]
          )
        ) (attrNames credentials)
      );
    in
    noCache
    ++ concatLists (map (attr: cacheProblems attr caches.${attr}) (attrNames caches))
    ++ watcherProblems
    ++ credentialProblems;

  # LoadCredential= lines for a service.
  loadCredentials = credentials: map (name: "${name}:${credentials.${name}}") (attrNames credentials);

  # The build-time check: `genpush config check --no-secrets`, because the
  # secrets (agenix, sops-nix, LoadCredential=) do not exist in the build
  # sandbox. `environment` holds the variables the services see (for `$VAR`s
  # in paths that are not secrets), e.g. STATE_DIRECTORY.
  checkScript =
    {
      genpush,
      configFile,
      environment ? { },
    }:
    concatStringsSep "\n" (
      map (name: "export ${name}=${quote environment.${name}}") (attrNames environment)
      ++ [ "${quote genpush} config check --no-secrets --config ${quote configFile} >/dev/null" ]
    );
}
