#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and demonstrates the GuestFs module.
.DESCRIPTION
    Tasks (run in the order given):
      Bootstrap  install the missing Debian packages (as root; otherwise print the exact apt-get line),
                 restore Pester from NuGet, build the libguestfs appliance into the per-user cache
      Generate   regenerate the typed daemon API (src/GuestFs.Engine/Api/*.g.cs) from the procedure tables
      Build      build the solution and assemble the importable module in out/GuestFs
      Help       turn the per-cmdlet markdown help into MAML (out/GuestFs/en-US); part of Build
      Test       Build and Package, then xunit (tests/Unit) and Pester (tests/Pester) against the built module;
                 ends with one line "N passed, N failed" and a non-zero exit code on any failure; a skipped
                 test counts as failed unless tests/skip-allowlist.txt allows it
      Package    Build, then the module as a .nupkg in out/packages (a folder Install-PSResource installs from)
      Demo       Bootstrap + Build, then demo/demo.ps1 on a disk image it creates
      Bench      Bootstrap + Build, then bench/run.ps1 (side by side with guestfish)
      Clean      remove out/ and every bin/ and obj/
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Bootstrap', 'Generate', 'Build', 'Help', 'Test', 'Package', 'Demo', 'Bench', 'Clean')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Passed to dotnet test --filter (for example "Category!=Appliance").
    [string] $UnitFilter,

    # Pester tags to run (default: all).
    [string[]] $Tag,

    # Pester tags to leave out.
    [string[]] $ExcludeTag,

    # Leave out the xunit or the Pester part of Test.
    [switch] $SkipUnit,
    [switch] $SkipPester
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleDir = Join-Path $Out 'GuestFs'
$PesterVersion = '5.7.1'
# libguestfs-xfs is only a Recommends of libguestfs0: without it the appliance has no xfs.
$RequiredPackages = @('qemu-system-x86', 'qemu-utils', 'supermin', 'guestfsd', 'libguestfs0', 'libguestfs-xfs', 'linux-image-amd64',
    # Tests only: debootstrap builds the Debian 12 root the inspection tests use;
    # openssh-server runs the loopback "hosts" of the remoting (fleet) tests;
    # genisoimage makes the ISO whose isoinfo struct is compared with guestfish;
    # libhivex-bin (hivexregedit) fills the phony Windows images' hives and
    # libwin-hivex-perl lets virt-win-reg, their reference, run;
    # systemd-journal-remote writes the real .journal file of the LookInside tests.
    # qemu-block-extra has qemu's curl/ssh/iscsi/rbd/gluster drivers (Open-GuestDisk -Uri);
    # busybox serves the remote-disk tests' images over HTTP;
    # libvirt-clients (virsh) is what Open-GuestDisk -Domain asks for a domain's XML;
    # tgt (tgtd, tgtadm) is their iSCSI target; nbdkit their second NBD server, lighttpd
    # their HTTPS server and vsftpd their FTP/FTPS server (openssl makes the certificate).
    'debootstrap', 'openssh-server', 'genisoimage', 'libhivex-bin', 'libwin-hivex-perl', 'systemd-journal-remote',
    'qemu-block-extra', 'busybox', 'libvirt-clients', 'tgt', 'nbdkit', 'lighttpd', 'vsftpd', 'openssl')

$script:BuildStarted = [DateTime]::UtcNow
# Each step with the minutes since the build started, so a long CI log says where its time went.
function Write-Step([string] $Text) { Write-Host ("==> [{0:hh\:mm\:ss}] {1}" -f ([DateTime]::UtcNow - $script:BuildStarted), $Text) -ForegroundColor Cyan }

# Runs a program with an argument list (never a shell string); its output goes to the
# host, and the exit code is the only thing returned.
function Invoke-Native {
    param([string] $File, [string[]] $Arguments, [switch] $AllowFailure)
    & $File @Arguments | Out-Host
    $code = $LASTEXITCODE
    if ($code -ne 0 -and -not $AllowFailure) { throw "'$File $($Arguments -join ' ')' failed with exit code $code" }
    $code
}

# The command that starts this same PowerShell: pwsh itself, or "dotnet <pwsh.dll>"
# when it runs as the local dotnet tool.
function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    @($exe)
}

# ------------------------------------------------------------------ Bootstrap

function Get-MissingPackages {
    $missing = @()
    foreach ($p in $RequiredPackages) {
        $status = & dpkg-query -W -f '${Status}' $p 2>$null
        if ($LASTEXITCODE -ne 0 -or $status -notmatch 'install ok installed') { $missing += $p }
    }
    , $missing
}

function Get-PesterModulePath {
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    Join-Path $packages "pester/$PesterVersion/tools/Pester.psd1"
}

function Invoke-Bootstrap {
    Write-Step 'Bootstrap: Debian packages'
    if (-not (Get-Command dpkg-query -ErrorAction SilentlyContinue)) {
        throw 'dpkg-query was not found: GuestFs needs a Debian (12) host with the packages ' + ($RequiredPackages -join ', ')
    }
    $missing = Get-MissingPackages
    if ($missing.Count -gt 0) {
        $isRoot = (& id -u) -eq '0'
        if (-not $isRoot) {
            throw "Missing Debian packages: $($missing -join ', '). Install them with:`n    sudo apt-get install -y $($missing -join ' ')"
        }
        Write-Host "installing: $($missing -join ' ')"
        $env:DEBIAN_FRONTEND = 'noninteractive'
        # Wait for another apt/dpkg run (a parallel build, unattended upgrades) instead of failing at once.
        $lockWait = @('-o', 'DPkg::Lock::Timeout=900')
        Invoke-Native apt-get (@('update', '-qq') + $lockWait) | Out-Null
        Invoke-Native apt-get (@('install', '-y', '-qq') + $lockWait + $missing) | Out-Null
        $still = Get-MissingPackages
        if ($still.Count -gt 0) { throw "apt-get did not install: $($still -join ', ')" }
    }
    else { Write-Host 'all Debian packages present' }

    Write-Step "Bootstrap: Pester $PesterVersion from NuGet"
    if (-not (Test-Path (Get-PesterModulePath))) {
        Invoke-Native dotnet @('restore', (Join-Path $Root 'tools/PesterRestore/PesterRestore.csproj'), '--verbosity', 'quiet') | Out-Null
        if (-not (Test-Path (Get-PesterModulePath))) { throw "Pester $PesterVersion was restored but $(Get-PesterModulePath) is missing" }
    }
    Write-Host "Pester: $(Get-PesterModulePath)"

    Invoke-ApplianceWarmup
}

# Builds (or confirms) the supermin appliance in the per-user cache so the first
# session does not pay for it (the saved appliance for warm starts follows the
# module build: Invoke-WarmPrepare).
function Invoke-ApplianceWarmup {
    Write-Step 'Bootstrap: appliance'
    $cacheParent = if ($env:LIBGUESTFS_CACHEDIR) { $env:LIBGUESTFS_CACHEDIR } elseif ($env:TMPDIR) { $env:TMPDIR } else { '/var/tmp' }
    $cache = Join-Path $cacheParent ".guestfs-$(& id -u)"
    $superminD = '/usr/lib/x86_64-linux-gnu/guestfs/supermin.d'
    if ($env:LIBGUESTFS_PATH -or -not (Test-Path $superminD)) { Write-Host 'appliance will be located at first launch'; return }
    New-Item -ItemType Directory -Force -Path $cache | Out-Null
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Invoke-Native supermin @('--build', '--if-newer', '--lock', "$cache/lock", '--copy-kernel', '-f', 'ext2', '--host-cpu', 'x86_64', $superminD, '-o', "$cache/appliance.d") | Out-Null
    foreach ($f in 'kernel', 'initrd', 'root') { (Get-Item "$cache/appliance.d/$f").LastWriteTimeUtc = [datetime]::UtcNow }
    Write-Host ("appliance ready in {0} ({1:0.0} s)" -f "$cache/appliance.d", $sw.Elapsed.TotalSeconds)
}

# guestfish (package libguestfs-tools) is the reference the benchmark compares with;
# the module itself never needs it.
function Install-Reference {
    if (Get-Command guestfish -ErrorAction SilentlyContinue) { return }
    if ((& id -u) -ne '0') { throw "The benchmark compares with guestfish. Install it with:`n    sudo apt-get install -y libguestfs-tools" }
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Native apt-get @('install', '-y', '-qq', '-o', 'DPkg::Lock::Timeout=900', 'libguestfs-tools') | Out-Null
}

# Boots and saves the appliance that warm launches restore (docs/warm.md), so the
# demo and the tests start warm. Needs the built module; never fatal (a launch
# without it saves one itself, or boots cold).
function Invoke-WarmPrepare {
    Write-Step 'Bootstrap: saved appliance for warm launches'
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $script = "Import-Module '$ModuleDir/GuestFs.psd1'; [GuestFs.Engine.Session.GuestSession]::PrepareSavedAppliance()"
    $pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { "$PSHOME/pwsh.dll" })
    $out = & ([Environment]::ProcessPath) @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1
    if ($LASTEXITCODE -eq 0) { Write-Host ("saved appliance ready in {0} ({1:0.0} s)" -f ($out | Select-Object -Last 1), $sw.Elapsed.TotalSeconds) }
    else { Write-Warning "could not save the appliance for warm launches (launches will boot cold): $($out -join ' ')" }
}

# The Pester suites compare with guestfish and virt-inspector (libguestfs-tools) and skip
# those comparisons, saying so, where the reference is missing and cannot be installed.
function Install-TestReference {
    if (Get-Command guestfish -ErrorAction SilentlyContinue) { return }
    if ((& id -u) -ne '0') { Write-Host 'libguestfs-tools is not installed: the differential and virt-inspector tests will be skipped (sudo apt-get install -y libguestfs-tools)'; return }
    Install-Reference
}

# ------------------------------------------------------------------ Build

function Get-ModuleVersion {
    [xml] $props = Get-Content (Join-Path $Root 'Directory.Build.props')
    $v = $props.Project.PropertyGroup.VersionPrefix | Where-Object { $_ } | Select-Object -First 1
    if (-not $v) { throw 'Directory.Build.props has no VersionPrefix' }
    $v.Trim()
}

function Invoke-Build {
    Write-Step "Build ($Configuration)"
    Invoke-Native dotnet @('build', (Join-Path $Root 'GuestFs.slnx'), '-c', $Configuration, '--nologo', '-v', 'quiet', '-clp:ErrorsOnly') | Out-Null

    $bin = Join-Path $Root "src/GuestFs.PowerShell/bin/$Configuration/net8.0"
    if (Test-Path $ModuleDir) { Remove-Item -Recurse -Force $ModuleDir }
    New-Item -ItemType Directory -Path $ModuleDir | Out-Null
    foreach ($f in 'GuestFs.PowerShell.dll', 'GuestFs.Engine.dll', 'GuestFs.PowerShell.pdb', 'GuestFs.Engine.pdb') {
        if (Test-Path "$bin/$f") { Copy-Item "$bin/$f" $ModuleDir }
    }
    # Any third-party runtime dependency next to them (none today); never PowerShell's own assemblies.
    Get-ChildItem $bin -Filter *.dll | Where-Object { $_.Name -notmatch '^(GuestFs\.|System\.Management\.Automation|Microsoft\.PowerShell)' } | Copy-Item -Destination $ModuleDir

    $version = Get-ModuleVersion
    (Get-Content (Join-Path $Root 'GuestFs.psd1') -Raw).Replace("'0.0.0'", "'$version'") | Set-Content (Join-Path $ModuleDir 'GuestFs.psd1') -NoNewline
    Get-ChildItem (Join-Path $Root 'src/GuestFs.PowerShell/Formatting') -Filter *.ps1xml | Copy-Item -Destination $ModuleDir
    Copy-Item (Join-Path $Root 'src/GuestFs.PowerShell/Proxies/GuestFs.Proxies.psm1') $ModuleDir
    Copy-Item (Join-Path $Root 'README.md') $ModuleDir
    Invoke-Help
    Write-Host "module: $ModuleDir (version $version)"
}

# ------------------------------------------------------------------ Help (markdown -> MAML)

function Split-MarkdownSections([string[]] $Lines, [string] $Prefix) {
    # Returns ordered name -> lines for headings that start with $Prefix ("## " or "### "), ignoring fenced code.
    $sections = [ordered]@{}
    $current = $null; $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($Prefix) -and -not $line.StartsWith($Prefix + '#')) {
            $current = $line.Substring($Prefix.Length).Trim()
            $sections[$current] = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $current) { $sections[$current].Add($line) }
    }
    $sections
}

function Get-Paragraphs([string[]] $Lines) {
    # Paragraphs of plain text (blank-line separated); fenced code stays one paragraph.
    $paras = [System.Collections.Generic.List[string]]::new()
    $buf = [System.Collections.Generic.List[string]]::new()
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') {
            if ($inFence) { $paras.Add(($buf -join "`n")); $buf.Clear(); $inFence = $false } else {
                if ($buf.Count) { $paras.Add(($buf -join ' ')); $buf.Clear() }
                $inFence = $true
            }
            continue
        }
        if ($inFence) { $buf.Add($line); continue }
        if ($line.Trim() -eq '') { if ($buf.Count) { $paras.Add(($buf -join ' ')); $buf.Clear() }; continue }
        $buf.Add($line.Trim())
    }
    if ($buf.Count) { $paras.Add(($(if ($inFence) { $buf -join "`n" } else { $buf -join ' ' }))) }
    , $paras.ToArray()
}

function Get-FencedBlocks([string[]] $Lines, [string] $Language) {
    $blocks = @(); $buf = $null
    foreach ($line in $Lines) {
        if ($null -eq $buf -and $line -match ('^```' + $Language + '\s*$')) { $buf = [System.Collections.Generic.List[string]]::new(); continue }
        if ($null -ne $buf -and $line -match '^```\s*$') { $blocks += , ($buf -join "`n"); $buf = $null; continue }
        if ($null -ne $buf) { $buf.Add($line) }
    }
    , $blocks
}

function ConvertTo-MamlCommand([string] $MarkdownPath) {
    $lines = Get-Content $MarkdownPath -Encoding utf8
    # Drop the YAML front matter.
    if ($lines.Count -and $lines[0] -eq '---') {
        $end = [Array]::IndexOf($lines, '---', 1)
        $lines = $lines[($end + 1)..($lines.Count - 1)]
    }
    $nameLine = $lines | Where-Object { $_ -match '^# [A-Za-z]+-[A-Za-z]+' } | Select-Object -First 1
    if (-not $nameLine) { throw "$MarkdownPath has no '# Verb-Noun' heading" }
    $name = $nameLine.Substring(2).Trim()
    $verb, $noun = $name.Split('-', 2)
    $s = Split-MarkdownSections $lines '## '
    foreach ($required in 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $s.Contains($required)) { throw "$MarkdownPath lacks a '## $required' section" }
    }

    $settings = [System.Xml.XmlWriterSettings]::new(); $settings.Indent = $true; $settings.OmitXmlDeclaration = $true
    $sb = [System.Text.StringBuilder]::new()
    $w = [System.Xml.XmlWriter]::Create($sb, $settings)
    $maml = 'http://schemas.microsoft.com/maml/2004/10'
    $cmd = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    $dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
    function Para([string[]] $Texts) { foreach ($t in $Texts) { $w.WriteElementString('para', $maml, $t) } }

    $w.WriteStartElement('command', 'command', $cmd)
    $w.WriteAttributeString('xmlns', 'maml', $null, $maml)
    $w.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $w.WriteStartElement('details', $cmd)
    $w.WriteElementString('name', $cmd, $name)
    $w.WriteElementString('verb', $cmd, $verb)
    $w.WriteElementString('noun', $cmd, $noun)
    $w.WriteStartElement('description', $maml); Para (Get-Paragraphs $s['SYNOPSIS']); $w.WriteEndElement()
    $w.WriteEndElement()
    $w.WriteStartElement('description', $maml); Para (Get-Paragraphs $s['DESCRIPTION']); $w.WriteEndElement()

    # Parameters: "### -Name", description paragraphs, one yaml block.
    $params = [ordered]@{}
    $ps = Split-MarkdownSections $s['PARAMETERS'] '### '
    foreach ($key in $ps.Keys) {
        if ($key -notmatch '^-(\w+)') { continue }
        $pname = $Matches[1]
        $yaml = (Get-FencedBlocks $ps[$key] 'yaml') | Select-Object -First 1
        if (-not $yaml) { throw "$MarkdownPath, parameter -$pname has no yaml block" }
        $meta = @{}
        foreach ($y in $yaml -split "`n") { if ($y -match '^([A-Za-z ]+):\s*(.*)$') { $meta[$Matches[1].Trim()] = $Matches[2].Trim() } }
        $descLines = [System.Collections.Generic.List[string]]::new(); $inFence = $false
        foreach ($l in $ps[$key]) { if ($l -match '^```') { $inFence = -not $inFence; continue }; if (-not $inFence) { $descLines.Add($l) } }
        $params[$pname] = @{ Name = $pname; Meta = $meta; Description = (Get-Paragraphs $descLines) }
    }
    function Write-Parameter($p, [string] $SetName) {
        $m = $p.Meta
        $type = if ($m['Type']) { $m['Type'] } else { 'Object' }
        $req = "$($m['Required'])"
        if ($SetName -and $req -match "True \(([^)]*)\)") { $req = if (($Matches[1] -split ',\s*') -contains $SetName) { 'true' } else { 'false' } }
        elseif ($req -match '^True') { $req = 'true' } else { $req = 'false' }
        $pos = if ($m['Position'] -and $m['Position'] -ne 'Named') { $m['Position'] } else { 'named' }
        $w.WriteStartElement('parameter', $cmd)
        $w.WriteAttributeString('required', $req)
        $w.WriteAttributeString('variableLength', $(if ($type -match '\[\]$') { 'true' } else { 'false' }))
        $w.WriteAttributeString('globbing', $(if ("$($m['Accept wildcard characters'])" -match '^True') { 'true' } else { 'false' }))
        $w.WriteAttributeString('pipelineInput', $(if ($m['Accept pipeline input']) { $m['Accept pipeline input'] } else { 'False' }))
        $w.WriteAttributeString('position', $pos)
        $w.WriteAttributeString('aliases', $(if ($m['Aliases']) { $m['Aliases'] } else { 'none' }))
        $w.WriteElementString('name', $maml, $p.Name)
        $w.WriteStartElement('description', $maml); Para $p.Description; $w.WriteEndElement()
        if ($type -ne 'SwitchParameter') {
            $w.WriteStartElement('parameterValue', $cmd)
            $w.WriteAttributeString('required', 'true'); $w.WriteAttributeString('variableLength', 'false')
            $w.WriteString($type); $w.WriteEndElement()
        }
        $w.WriteStartElement('type', $dev); $w.WriteElementString('name', $maml, $type); $w.WriteElementString('uri', $maml, ''); $w.WriteEndElement()
        $w.WriteElementString('defaultValue', $dev, $(if ($m['Default value']) { $m['Default value'] } else { 'None' }))
        $w.WriteEndElement()
    }

    # Syntax: one item per "### Set" heading in SYNTAX; parameters that belong to it, in the order of its code line.
    $w.WriteStartElement('syntax', $cmd)
    $syn = Split-MarkdownSections $s['SYNTAX'] '### '
    if ($syn.Count -eq 0) { $syn = [ordered]@{ '(All)' = $s['SYNTAX'] } }
    foreach ($setHeading in $syn.Keys) {
        $setName = ($setHeading -replace '\s*\(Default\)\s*$', '').Trim()
        $code = ((Get-FencedBlocks $syn[$setHeading] '') | Select-Object -First 1)
        $w.WriteStartElement('syntaxItem', $cmd)
        $w.WriteElementString('name', $maml, $name)
        foreach ($m in [regex]::Matches("$code", '-(\w+)')) {
            $pn = $m.Groups[1].Value
            if ($params.Contains($pn)) { Write-Parameter $params[$pn] $setName }
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('parameters', $cmd)
    foreach ($p in $params.Values) { Write-Parameter $p $null }
    $w.WriteEndElement()

    foreach ($pair in @(@('INPUTS', 'inputTypes', 'inputType'), @('OUTPUTS', 'returnValues', 'returnValue'))) {
        if (-not $s.Contains($pair[0])) { continue }
        $w.WriteStartElement($pair[1], $cmd)
        $types = Split-MarkdownSections $s[$pair[0]] '### '
        foreach ($t in $types.Keys) {
            $w.WriteStartElement($pair[2], $cmd)
            $w.WriteStartElement('type', $dev); $w.WriteElementString('name', $maml, $t); $w.WriteEndElement()
            $w.WriteStartElement('description', $maml); Para (Get-Paragraphs $types[$t]); $w.WriteEndElement()
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }

    if ($s.Contains('NOTES')) {
        $notes = Get-Paragraphs $s['NOTES']
        if ($notes.Count) { $w.WriteStartElement('alertSet', $maml); $w.WriteStartElement('alert', $maml); Para $notes; $w.WriteEndElement(); $w.WriteEndElement() }
    }

    $w.WriteStartElement('examples', $cmd)
    $examples = Split-MarkdownSections $s['EXAMPLES'] '### '
    foreach ($title in $examples.Keys) {
        $body = $examples[$title]
        $code = (Get-FencedBlocks $body 'powershell') | Select-Object -First 1
        if (-not $code) { throw "$MarkdownPath, '$title' has no powershell code block" }
        $after = [System.Collections.Generic.List[string]]::new(); $seen = 0; $inFence = $false
        foreach ($l in $body) {
            if ($l -match '^```') { $inFence = -not $inFence; if (-not $inFence) { $seen++ }; continue }
            if (-not $inFence -and $seen -ge 1) { $after.Add($l) }
        }
        $w.WriteStartElement('example', $cmd)
        $w.WriteElementString('title', $maml, "-------------------------- $title --------------------------")
        $w.WriteElementString('code', $dev, $code)
        $w.WriteStartElement('remarks', $dev); Para (Get-Paragraphs $after); $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    if ($s.Contains('RELATED LINKS')) {
        $w.WriteStartElement('relatedLinks', $cmd)
        foreach ($m in [regex]::Matches(($s['RELATED LINKS'] -join "`n"), '\[([^\]]+)\]\(([^)]*)\)')) {
            $w.WriteStartElement('navigationLink', $maml)
            $w.WriteElementString('linkText', $maml, $m.Groups[1].Value)
            $w.WriteElementString('uri', $maml, $m.Groups[2].Value)
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.Flush(); $w.Dispose()
    $sb.ToString()
}

function Invoke-Help {
    Write-Step 'Help: markdown -> MAML'
    $enUS = Join-Path $ModuleDir 'en-US'
    New-Item -ItemType Directory -Force -Path $enUS | Out-Null
    $sources = Get-ChildItem (Join-Path $Root 'src/GuestFs.PowerShell/Commands') -Filter '*-*.md' | Sort-Object Name
    $commands = foreach ($md in $sources) { ConvertTo-MamlCommand $md.FullName }
    $xml = "<?xml version=""1.0"" encoding=""utf-8""?>`n<helpItems schema=""maml"" xmlns=""http://msh"">`n" + ($commands -join "`n") + "`n</helpItems>`n"
    # Validate before writing: a broken file would silently disable all help.
    [xml] $null = $xml
    Set-Content -Path (Join-Path $enUS 'GuestFs.PowerShell.dll-Help.xml') -Value $xml -Encoding utf8NoBOM
    Get-ChildItem (Join-Path $Root 'en-US') -Filter 'about_*.help.txt' | Copy-Item -Destination $enUS
    Write-Host "help: $($sources.Count) cmdlets -> $enUS"
}

# ------------------------------------------------------------------ Test

# The skips a run may have (tests/skip-allowlist.txt): pattern, condition, reason.
function Get-SkipAllowList {
    $file = Join-Path $Root 'tests/skip-allowlist.txt'
    foreach ($line in Get-Content $file) {
        if ($line -match '^\s*(#|$)') { continue }
        $parts = $line -split '\s*\|\s*', 3
        if ($parts.Count -ne 3) { throw "tests/skip-allowlist.txt: '$line' is not 'pattern | condition | reason'" }
        $holds = switch ($parts[1]) {
            'no-kvm' { -not (Test-Path /dev/kvm) }
            default { throw "tests/skip-allowlist.txt: unknown condition '$($parts[1])' in '$line'" }
        }
        [pscustomobject]@{ Pattern = $parts[0].Trim(); Holds = $holds; Reason = $parts[2] }
    }
}

# Splits skipped test names into allowed skips and the rest, which count as failures.
function Test-SkippedTests([string[]] $Names, [string] $Runner) {
    $allow = @(Get-SkipAllowList)
    $bad = 0
    foreach ($n in $Names) {
        $entry = $allow | Where-Object { $_.Holds -and $n -like $_.Pattern } | Select-Object -First 1
        if ($entry) { Write-Host "skipped (allowed: $($entry.Reason)): $n" }
        else { Write-Host "FAILED (skipped, not on tests/skip-allowlist.txt): [$Runner] $n" -ForegroundColor Red; $bad++ }
    }
    $bad
}

function Invoke-Test {
    $passed = 0; $failed = 0; $skipped = 0; $broken = @(); $failures = @()
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    New-Item -ItemType Directory -Force -Path $results | Out-Null

    if (-not $SkipUnit) {
        Write-Step 'Test: xunit (tests/Unit)'
        $targs = @('test', (Join-Path $Root 'tests/Unit/GuestFs.Tests.csproj'), '-c', $Configuration, '--nologo', '--no-build',
            '--results-directory', $results, '--logger', 'trx;LogFileName=unit.trx', '--logger', 'console;verbosity=normal')
        if ($UnitFilter) { $targs += @('--filter', $UnitFilter) }
        $code = Invoke-Native dotnet $targs -AllowFailure
        $trx = Join-Path $results 'unit.trx'
        if (Test-Path $trx) {
            [xml] $x = Get-Content $trx
            $c = $x.TestRun.ResultSummary.Counters
            $passed += [int] $c.passed; $failed += [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted
            $ns = @{ t = 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010' }
            $names = @(Select-Xml -Xml $x -XPath '//t:UnitTestResult[@outcome="NotExecuted"]' -Namespace $ns | ForEach-Object { $_.Node.testName })
            $bad = Test-SkippedTests $names 'xunit'
            $failed += $bad; $skipped += $names.Count - $bad
            Write-Host ("xunit: {0} passed, {1} failed, {2} skipped" -f $c.passed, $c.failed, $c.notExecuted)
            if ($code -ne 0 -and [int] $c.failed -eq 0) { $broken += "xunit exited with $code" }
            $failures += @(Select-Xml -Xml $x -XPath '//t:UnitTestResult[@outcome="Failed"]' -Namespace $ns | ForEach-Object {
                    $msg = "$(Select-Xml -Xml $_.Node -XPath 't:Output/t:ErrorInfo/t:Message' -Namespace $ns | Select-Object -First 1 | ForEach-Object { $_.Node.InnerText })"
                    "[xunit] $($_.Node.testName): $((($msg -split "`n")[0]).Trim())" })
        }
        else { $broken += "xunit produced no results (exit code $code)" }
    }

    if (-not $SkipPester) {
        Write-Step 'Test: Pester (tests/Pester) against the built module'
        $json = Join-Path $results 'pester.json'
        $runner = Join-Path $Root 'tests/Pester/Run-Pester.ps1'
        $pwsh = Get-PwshCommand
        $pargs = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $runner, '-PesterModule', (Get-PesterModulePath), '-ModulePath', (Join-Path $ModuleDir 'GuestFs.psd1'),
            '-ResultPath', $json, '-TestPath', (Join-Path $Root 'tests/Pester'))
        if ($Tag) { $pargs += @('-Tag', ($Tag -join ',')) }
        if ($ExcludeTag) { $pargs += @('-ExcludeTag', ($ExcludeTag -join ',')) }
        # The module runs in its own process, so the files under out/ are never locked.
        $env:GUESTFS_TEST_MODULE = Join-Path $ModuleDir 'GuestFs.psd1'
        $code = Invoke-Native $pwsh[0] $pargs -AllowFailure
        if (Test-Path $json) {
            $r = Get-Content $json -Raw | ConvertFrom-Json
            $names = @($r.SkippedNames | Where-Object { $_ })
            $bad = Test-SkippedTests $names 'Pester'
            $passed += $r.Passed; $failed += $r.Failed + $bad; $skipped += $names.Count - $bad
            if ($r.ContainerFailures -gt 0) { $failed += $r.ContainerFailures }
            $failures += @($r.FailedTests | Where-Object { $_ } | ForEach-Object {
                    $where = if ($_.File) { " ($([IO.Path]::GetFileName($_.File)):$($_.Line))" } else { '' }
                    "[Pester] $($_.Name)$where`: $($_.Error)" })
            Write-Host ("Pester: {0} passed, {1} failed, {2} skipped, {3} blocks failed" -f $r.Passed, $r.Failed, $r.Skipped, $r.ContainerFailures)
        }
        else { $broken += "Pester produced no results (exit code $code)" }
    }

    # The failures again at the end, where a truncated CI log still shows them.
    if ($failures.Count) { Write-Host 'Failed:' -ForegroundColor Red; foreach ($f in $failures) { Write-Host "  $f" -ForegroundColor Red } }
    foreach ($b in $broken) { Write-Host "ERROR: $b" -ForegroundColor Red; $failed++ }
    $leftovers = @(Get-Process -Name 'qemu-system-x86*' -ErrorAction SilentlyContinue | Where-Object {
            (Get-Content "/proc/$($_.Id)/stat" -ErrorAction SilentlyContinue) -notmatch '^\d+ \(.*\) Z ' })
    if ($leftovers.Count) { Write-Host "WARNING: $($leftovers.Count) qemu process(es) still running after the tests: $($leftovers.Id -join ', ')" -ForegroundColor Yellow }
    $line = "$passed passed, $failed failed"
    if ($skipped) { $line += ", $skipped skipped" }
    Write-Host $line
    if ($failed -gt 0) { exit 1 }
}

# ------------------------------------------------------------------ Package

# The built module as a .nupkg in out/packages, the folder a local PSResourceGet
# repository points at (Register-PSResourceRepository -Uri <folder>; then
# Install-PSResource GuestFs -Repository <name>). Publish-PSResource writes the
# package; the temporary repository it needs is registered in a private HOME, so
# the user's own repository list is never touched.
function Invoke-Package {
    Write-Step 'Package: the module as a .nupkg'
    if (-not (Test-Path (Join-Path $ModuleDir 'GuestFs.psd1'))) { Invoke-Build }
    $feed = Join-Path $Out 'packages'
    New-Item -ItemType Directory -Force -Path $feed | Out-Null
    Get-ChildItem $feed -Filter 'GuestFs.*.nupkg' | Remove-Item -Force
    $home2 = Join-Path ([IO.Path]::GetTempPath()) ('guestfs-pack-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $home2 | Out-Null
    try {
        $script = "`$ErrorActionPreference = 'Stop'; Register-PSResourceRepository -Name GuestFsBuild -Uri '$feed' -Trusted; " +
            "Publish-PSResource -Path '$ModuleDir' -Repository GuestFsBuild -SkipDependenciesCheck"
        $pwsh = Get-PwshCommand
        $saved = $env:HOME
        $env:HOME = $home2
        try { $code = Invoke-Native $pwsh[0] (@($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) -AllowFailure }
        finally { $env:HOME = $saved }
        if ($code -ne 0) { throw "Publish-PSResource failed (exit code $code)" }
    }
    finally { Remove-Item -Recurse -Force $home2 -ErrorAction SilentlyContinue }
    $pkg = Get-ChildItem $feed -Filter 'GuestFs.*.nupkg' | Select-Object -First 1
    if (-not $pkg) { throw "no GuestFs .nupkg was written to $feed" }
    Write-Host "package: $($pkg.FullName)"
}

# ------------------------------------------------------------------ Demo / Bench / Clean

function Invoke-Script([string] $Path) {
    if (-not (Test-Path $Path)) { throw "$Path does not exist" }
    $pwsh = Get-PwshCommand
    Invoke-Native $pwsh[0] (@($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-File', $Path, '-ModulePath', (Join-Path $ModuleDir 'GuestFs.psd1'))) | Out-Null
}

function Invoke-Clean {
    Write-Step 'Clean'
    if (Test-Path $Out) { Remove-Item -Recurse -Force $Out }
    Get-ChildItem $Root -Recurse -Directory -Include bin, obj | Where-Object { $_.FullName -notmatch '/\.git/' } | Remove-Item -Recurse -Force
}

foreach ($t in $Task) {
    switch ($t) {
        'Bootstrap' { Invoke-Bootstrap }
        'Generate' {
            Write-Step 'Generate: typed API from src/GuestFs.Engine/Api/*.table'
            Invoke-Native dotnet @('run', '--project', (Join-Path $Root 'tools/GuestFs.Generator'), '--', '--api', (Join-Path $Root 'src/GuestFs.Engine/Api')) | Out-Null
        }
        'Build' { Invoke-Build }
        'Help' { if (-not (Test-Path $ModuleDir)) { Invoke-Build } else { Invoke-Help } }
        'Test' { Invoke-Bootstrap; Install-TestReference; Invoke-Build; Invoke-Package; Invoke-WarmPrepare; Invoke-Test }
        'Package' { Invoke-Build; Invoke-Package }
        'Demo' { Invoke-Bootstrap; Invoke-Build; Invoke-WarmPrepare; Invoke-Script (Join-Path $Root 'demo/demo.ps1') }
        'Bench' { Invoke-Bootstrap; Install-Reference; Invoke-Build; Invoke-WarmPrepare; Invoke-Script (Join-Path $Root 'bench/run.ps1') }
        'Clean' { Invoke-Clean }
    }
}
