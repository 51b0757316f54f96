# Select-String, Get-FileHash and Get-Content -Tail, made to work on guest files.
#
# PowerShell's own Select-String and Get-FileHash open files through the
# FileSystem provider only: `Select-String -Path vm:/etc/*.conf` stops with
# "the provider cannot open files", and `Get-ChildItem vm:/etc | Select-String x`
# silently matches the items' names instead of their content. These two
# functions stand in front of the cmdlets while GuestFs is loaded. Anything that
# is not a guest file (host paths, strings, streams) goes to the real cmdlet
# unchanged; guest files (paths on a GuestFs drive, items the GuestFs provider
# or Get-GuestChildItem wrote) are read through GuestFs and searched or hashed
# with the same parameters.
#
# The parameter blocks are built when the module loads from the cmdlets' own
# metadata, so every parameter, alias and parameter set is the installed
# cmdlet's. The real cmdlets stay reachable as Microsoft.PowerShell.Utility\Select-String
# and Microsoft.PowerShell.Utility\Get-FileHash.
#
# The functions are deliberately not bound to this module: they run in the
# caller's session state, so drives the caller made in a local scope (a script's
# New-PSDrive) resolve as they do for the cmdlets themselves. Their helpers are
# therefore part of each function's text (the $helpers block below).

Set-StrictMode -Version 3.0

$helpers = @'
# Whether a path (wildcards allowed unless literal) names items on a GuestFs
# drive. Gives the provider-qualified paths that matched; nothing when the path
# belongs to another provider or does not resolve (the real cmdlet then reports
# it in its own words).
function Resolve-GuestFsProxyPath {
    param([string] $Value, [switch] $Literal)
    try {
        $found = if ($Literal) { Resolve-Path -LiteralPath $Value -ErrorAction Stop } else { Resolve-Path -Path $Value -ErrorAction Stop }
    }
    catch { return }
    foreach ($p in $found) {
        if ($p.Provider.Name -eq 'GuestFs') { $p.Path }
    }
}

# The guest file an object from the pipeline stands for: a provider item (read
# through its drive path) or a Get-GuestChildItem item (read with
# Get-GuestContent from the open disk). $null for anything else.
function Get-GuestFsProxyInput {
    param($InputObject)
    if ($null -eq $InputObject) { return $null }
    if ($InputObject -isnot [GuestFs.Engine.Library.GuestFileInfo]) { return $null }
    $base = $InputObject.PSObject.BaseObject
    $provider = $InputObject.PSObject.Properties['PSProvider']
    $psPath = $InputObject.PSObject.Properties['PSPath']
    $onDrive = $null -ne $provider -and $null -ne $psPath -and "$($provider.Value.Name)" -eq 'GuestFs'
    $name = if ($onDrive) { ConvertTo-GuestFsDrivePath ([string]$psPath.Value) } else { $base.FullName }
    [pscustomobject]@{
        Path = $name
        OnDrive = $onDrive
        IsDirectory = $base.ItemType -eq [GuestFs.Engine.Library.GuestItemType]::Directory
    }
}

# GuestFs\GuestFs::vm:/etc/x -> vm:/etc/x (the form a user typed and reads).
function ConvertTo-GuestFsDrivePath([string] $Value) {
    $i = $Value.IndexOf('::')
    if ($i -ge 0) { $Value.Substring($i + 2) } else { $Value }
}

'@

function New-GuestFsProxyFunction {
    param([string] $Name, [string] $Body, [string] $Module = 'Microsoft.PowerShell.Utility')
    $real = Get-Command "$Module\$Name" -CommandType Cmdlet -ErrorAction Stop
    $meta = [System.Management.Automation.CommandMetadata]::new($real)
    $binding = [System.Management.Automation.ProxyCommand]::GetCmdletBindingAttribute($meta)
    $params = [System.Management.Automation.ProxyCommand]::GetParamBlock($meta)
    # The provider's own parameters (Get-Content -Raw, -Encoding … on FileSystem
    # paths): the ones the cmdlet would have for the parameters bound so far.
    $dynamicBlock = if ($real.ImplementingType.GetInterface('System.Management.Automation.IDynamicParameters')) {
        @"
dynamicparam {
    `$target = `$ExecutionContext.InvokeCommand.GetCommand('$Module\$Name', [System.Management.Automation.CommandTypes]::Cmdlet, `$PSBoundParameters)
    `$dictionary = `$null
    foreach (`$p in `$target.Parameters.Values) {
        if (-not `$p.IsDynamic -or `$MyInvocation.MyCommand.Parameters.ContainsKey(`$p.Name)) { continue }
        if (`$null -eq `$dictionary) { `$dictionary = [System.Management.Automation.RuntimeDefinedParameterDictionary]::new() }
        `$dictionary.Add(`$p.Name, [System.Management.Automation.RuntimeDefinedParameter]::new(`$p.Name, `$p.ParameterType, `$p.Attributes))
    }
    `$dictionary
}

"@
    } else { '' }
    $help = "<#`n.ForwardHelpTargetName $Module\$Name`n.ForwardHelpCategory Cmdlet`n#>"
    $text = "$help`n$binding`nparam($params)`n$dynamicBlock" + $Body.Replace('#HELPERS#', $helpers)
    # An unbound script block: it runs in the caller's session state (see above).
    Set-Item -Path "function:script:$Name" -Value ([scriptblock]::Create($text))
}

# $GuestFsProxyCoreCommands = $false before Import-Module leaves the three
# cmdlets alone (each proxied call costs about a millisecond more).
$proxies = -not ((Test-Path variable:global:GuestFsProxyCoreCommands) -and $global:GuestFsProxyCoreCommands -eq $false)
if (-not $proxies) { Export-ModuleMember -Function @(); return }

# ---------------------------------------------------------------- Select-String
New-GuestFsProxyFunction -Name Select-String -Body @'
begin {
    #HELPERS#
    $real = $ExecutionContext.InvokeCommand.GetCmdlet('Microsoft.PowerShell.Utility\Select-String')
    # Parameters that choose the input; all the others say how to search and
    # go unchanged to the real cmdlet, for guest files too.
    $how = @{}
    foreach ($k in $PSBoundParameters.Keys) {
        if ($k -notin 'Path', 'LiteralPath', 'InputObject', 'Include', 'Exclude', 'Encoding', 'Quiet') { $how[$k] = $PSBoundParameters[$k] }
    }
    $isQuiet = [bool]$Quiet
    $readEncoding = if ($PSBoundParameters.ContainsKey('Encoding')) { $Encoding } else { $null }
    $includes = $Include
    $excludes = $Exclude
    $state = @{ Found = $false }

    # Searches one guest file with the real cmdlet over its lines, then gives
    # each MatchInfo the file's path, as Select-String does for a host file.
    # Directories are skipped, as Select-String skips them.
    function Search-GuestFile($in) {
        if ($in.IsDirectory) { return }
        $leaf = ($in.Path -split '[/\\]')[-1]
        if ($includes -and -not ($includes | Where-Object { $leaf -like $_ })) { return }
        if ($excludes -and ($excludes | Where-Object { $leaf -like $_ })) { return }
        $read = @{ LiteralPath = $in.Path; ErrorAction = 'Stop' }
        if ($null -ne $readEncoding) { $read.Encoding = $readEncoding }
        $lines = if ($in.OnDrive) { Microsoft.PowerShell.Management\Get-Content @read } else { GuestFs\Get-GuestContent @read }
        $found = @($lines | Microsoft.PowerShell.Utility\Select-String @how)
        if ($found.Count -gt 0) { $state.Found = $true }
        if ($isQuiet) { return }
        foreach ($m in $found) {
            if ($m -is [Microsoft.PowerShell.Commands.MatchInfo]) { $m.Path = $in.Path }
            $m
        }
    }

    $byPath = $PSBoundParameters.ContainsKey('Path') -or $PSBoundParameters.ContainsKey('LiteralPath')
    $steppable = $null
    if (-not $byPath) {
        # Objects: guest items are picked out in process{}, everything else
        # streams through the real cmdlet as if this function were not here.
        $steppable = { & $real @PSBoundParameters }.GetSteppablePipeline($MyInvocation.CommandOrigin)
        $steppable.Begin($PSCmdlet)
    }
}
process {
    if ($byPath) {
        $literal = $PSBoundParameters.ContainsKey('LiteralPath')
        $values = if ($literal) { $LiteralPath } else { $Path }
        $resolved = @(foreach ($v in $values) { [pscustomobject]@{ Given = $v; Guest = @(Resolve-GuestFsProxyPath -Value $v -Literal:$literal) } })
        if (-not ($resolved | Where-Object { $_.Guest.Count -gt 0 })) {
            # No guest path at all: the real cmdlet, exactly as called.
            & $real @PSBoundParameters
            return
        }
        foreach ($r in $resolved) {
            if ($r.Guest.Count -gt 0) {
                foreach ($g in $r.Guest) {
                    $item = Microsoft.PowerShell.Management\Get-Item -LiteralPath $g -ErrorAction SilentlyContinue
                    if ($item) { Search-GuestFile (Get-GuestFsProxyInput $item) }
                }
                continue
            }
            $one = @{} + $PSBoundParameters
            [void]$one.Remove('Path'); [void]$one.Remove('LiteralPath'); [void]$one.Remove('Quiet')
            if ($literal) { $one.LiteralPath = $r.Given } else { $one.Path = $r.Given }
            $hits = @(& $real @one)
            if ($hits.Count -gt 0) { $state.Found = $true }
            if (-not $isQuiet) { $hits }
        }
        if ($isQuiet) { $state.Found }
        return
    }
    $in = Get-GuestFsProxyInput $_
    if ($null -ne $in) { Search-GuestFile $in; return }
    $steppable.Process($_)
}
end {
    if ($null -eq $steppable) { return }
    $rest = @($steppable.End())
    if ($isQuiet -and $state.Found) {
        # -Quiet answers once for all the input: a guest file that matched makes it True.
        foreach ($x in $rest) { if ($x -isnot [bool]) { $x } }
        $true
        return
    }
    $rest
}
'@

# ------------------------------------------------------------------ Get-FileHash
New-GuestFsProxyFunction -Name Get-FileHash -Body @'
begin {
    #HELPERS#
    $real = $ExecutionContext.InvokeCommand.GetCmdlet('Microsoft.PowerShell.Utility\Get-FileHash')
    $hashAlgorithm = if ($PSBoundParameters.ContainsKey('Algorithm')) { $Algorithm } else { 'SHA256' }
}
process {
    # A Get-GuestChildItem item binds to -Path as its FullName, a guest path the
    # real cmdlet would read on the host: hash the guest file instead.
    $in = Get-GuestFsProxyInput $_
    if ($null -ne $in -and -not $in.OnDrive) {
        if (-not $in.IsDirectory) { GuestFs\Get-GuestFileHash -LiteralPath $in.Path -Algorithm $hashAlgorithm }
        return
    }
    if ($PSCmdlet.ParameterSetName -eq 'StreamParameterSet') { & $real @PSBoundParameters; return }
    $literal = $PSCmdlet.ParameterSetName -eq 'LiteralPath'
    $values = if ($literal) { $LiteralPath } else { $Path }
    foreach ($v in $values) {
        $guest = @(Resolve-GuestFsProxyPath -Value $v -Literal:$literal)
        if ($guest.Count -gt 0) {
            foreach ($g in $guest) { GuestFs\Get-GuestFileHash -LiteralPath (ConvertTo-GuestFsDrivePath $g) -Algorithm $hashAlgorithm }
            continue
        }
        $one = @{} + $PSBoundParameters
        [void]$one.Remove('Path'); [void]$one.Remove('LiteralPath')
        if ($literal) { $one.LiteralPath = $v } else { $one.Path = $v }
        & $real @one
    }
}
'@

# ------------------------------------------------------------------- Get-Content
# Get-Content refuses -Tail on any provider but FileSystem. With -Tail, a path on
# a GuestFs drive is read with Get-GuestContent -Tail (the appliance reads the
# end of the file); without -Tail, or for other paths, this is the cmdlet itself.
New-GuestFsProxyFunction -Name Get-Content -Module Microsoft.PowerShell.Management -Body @'
begin {
    $real = $ExecutionContext.InvokeCommand.GetCmdlet('Microsoft.PowerShell.Management\Get-Content')
    $steppable = $null
    if (-not $PSBoundParameters.ContainsKey('Tail')) {
        $steppable = { & $real @PSBoundParameters }.GetSteppablePipeline($MyInvocation.CommandOrigin)
        $steppable.Begin($PSCmdlet)
        return
    }
    #HELPERS#
}
process {
    if ($null -ne $steppable) { $steppable.Process($_); return }
    $literal = $PSBoundParameters.ContainsKey('LiteralPath')
    $values = if ($literal) { $LiteralPath } else { $Path }
    foreach ($v in $values) {
        $guest = @(Resolve-GuestFsProxyPath -Value $v -Literal:$literal)
        if ($guest.Count -gt 0) {
            foreach ($g in $guest) {
                $read = @{ LiteralPath = (ConvertTo-GuestFsDrivePath $g); Tail = $Tail }
                foreach ($k in 'Raw', 'Encoding', 'AsByteStream', 'ErrorAction') { if ($PSBoundParameters.ContainsKey($k)) { $read[$k] = $PSBoundParameters[$k] } }
                if ($read['Encoding'] -is [System.Text.Encoding]) { $read['Encoding'] = $read['Encoding'].WebName }
                GuestFs\Get-GuestContent @read
            }
            continue
        }
        $one = @{} + $PSBoundParameters
        [void]$one.Remove('Path'); [void]$one.Remove('LiteralPath')
        if ($literal) { $one.LiteralPath = $v } else { $one.Path = $v }
        & $real @one
    }
}
end {
    if ($null -ne $steppable) { $steppable.End() }
}
'@

Export-ModuleMember -Function Select-String, Get-FileHash, Get-Content
